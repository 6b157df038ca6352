/// Where rank 0 receives one client's upload and checks it before use: the header against the
/// round's plan (`UploadValidation`), the body's exact size, its decoding and finite values
/// (`UploadCoding.decode`). The update-norm bound comes after, over the round's accepted uploads
/// together (`UpdateNormGuard.screen`).
struct UploadReceiver {
    let plan: RoundPlan
    let encoding: BlockEncoding
    /// The server's values of the trained units, which a delta upload is added to.
    let current: UnsafeBufferPointer<Float>
    let rows: RowLayout
    /// Each client's training tokens: its aggregation weight, checked against what it reports.
    let sampleCounts: [Int]

    /// The exact body size the job's upload codec gives the trained units.
    var expectedBytes: Int { encoding.codec.encodedSize(rows) }

    /// Receives `client`'s header and body from rank `source`. Throws `RefusedUpload` for an
    /// upload that arrived but fails a check, `UploadRejection` or a transport error otherwise.
    func receive(client: Int, from source: Int, transport: Transport) throws -> ReceivedUpload {
        let expected = expectedBytes
        let headerBytes = try transport.receive(from: source, tag: UploadTag.header(client: client),
                                                maxBytes: UploadHeader.encodedSize)
        let header = try UploadHeader.decode(headerBytes)
        // The body is always drained, even after a bad header, so the next round's messages line up.
        let body: [UInt8]
        do {
            body = try transport.receive(from: source, tag: UploadTag.body(client: client), maxBytes: expected)
        } catch let error as TransportError {
            throw UploadRejection.transport("\(error)")
        }
        let bytes = headerBytes.count + body.count
        do {
            try UploadValidation.check(header: header, plan: plan, client: client, samples: sampleCounts[client],
                                       expectedBytes: expected)
            let values = try UploadCoding.decode(body, current: current, rows: rows, encoding: encoding)
            return ReceivedUpload(header: header, values: values, bytes: bytes)
        } catch let reason as UploadRejection {
            throw RefusedUpload(reason: reason, bytes: bytes)
        }
    }
}
