/// The server's checks on an upload's header: expected round, target and client, exact size, sample count, finite loss.
enum UploadValidation {
    static func check(header: UploadHeader, plan: RoundPlan, client: Int, samples: Int, expectedBytes: Int) throws {
        guard header.round == plan.round else { throw UploadRejection.wrongHeader("round \(header.round), expected \(plan.round)") }
        guard header.target == plan.target else { throw UploadRejection.wrongHeader("\(header.target), expected \(plan.target)") }
        guard header.client == client else { throw UploadRejection.wrongHeader("client \(header.client), expected \(client)") }
        guard header.bodyBytes == expectedBytes else {
            throw UploadRejection.wrongSize(expected: expectedBytes, received: header.bodyBytes)
        }
        // The aggregation weight is what the server knows the client holds; a client that claims
        // more would take a larger share of the mean than it is owed.
        guard header.sampleCount == samples else {
            throw UploadRejection.wrongHeader("client \(client) claims \(header.sampleCount) samples, holds \(samples)")
        }
        guard header.loss.isFinite else { throw UploadRejection.wrongHeader("loss \(header.loss)") }
    }
}
