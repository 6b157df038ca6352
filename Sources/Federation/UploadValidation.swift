/// Why the server left an upload out of the aggregate.
public enum UploadRejection: Error, Equatable, CustomStringConvertible {
    case wrongHeader(String)
    case wrongSize(expected: Int, received: Int)
    case notFinite(index: Int)
    case transport(String)
    case updateTooLarge(norm: Double, limit: Double)
    case undecodable(String)

    /// Body bytes that arrived, where the rejection knows them.
    public var bytesReceived: Int? {
        if case let .wrongSize(_, received) = self { return received }
        return nil
    }

    public var description: String {
        switch self {
        case let .wrongHeader(what): return "unexpected upload header: \(what)"
        case let .wrongSize(expected, received): return "upload is \(received) bytes, expected \(expected)"
        case let .notFinite(index): return "upload value \(index) is not finite"
        case let .transport(what): return "upload could not be received: \(what)"
        case let .updateTooLarge(norm, limit): return "update RMS \(norm) is over the bound \(limit)"
        case let .undecodable(what): return "upload body does not decode: \(what)"
        }
    }
}

/// One client's upload as the server received it, checked before use.
public struct ReceivedUpload {
    public let header: UploadHeader
    public let values: [Float]
    public let bytes: Int
}

/// The server's checks on an upload: expected round, block and client, exact size, finite values.
enum UploadValidation {
    static func check(header: UploadHeader, round: Int, block: Int, client: Int, samples: Int, expectedBytes: Int) throws {
        guard header.round == round else { throw UploadRejection.wrongHeader("round \(header.round), expected \(round)") }
        guard header.block == block else { throw UploadRejection.wrongHeader("block \(header.block), expected \(block)") }
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
