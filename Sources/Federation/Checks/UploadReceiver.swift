/// Where rank 0 receives one client's upload and checks it before use: the header against the
/// round's plan (`UploadValidation`), the body's exact size, its decoding and finite values
/// (`UploadCoding.decode`). The update-norm bound comes after, over the round's accepted uploads
/// together (`UpdateNormGuard.screen`).
public struct UploadReceiver {
    let plan: RoundPlan
    let encoding: BlockEncoding
    /// The server's values of the trained units, which a delta upload is added to.
    let current: UnsafeBufferPointer<Float>
    let rows: RowLayout
    /// Each client's training tokens: its aggregation weight, checked against what it reports.
    let sampleCounts: [Int]

    public init(plan: RoundPlan, encoding: BlockEncoding, current: UnsafeBufferPointer<Float>, rows: RowLayout,
                sampleCounts: [Int]) {
        self.plan = plan; self.encoding = encoding; self.current = current; self.rows = rows
        self.sampleCounts = sampleCounts
    }

    /// The exact body size the job's upload codec gives the trained units.
    var expectedBytes: Int { encoding.codec.encodedSize(rows) }

    /// Receives `client`'s header and body from rank `source`. Throws `RefusedUpload` for an
    /// upload that arrived but fails a check, `UploadRejection` or a transport error otherwise.
    public func receive(client: Int, from source: Int, transport: Transport) throws -> ReceivedUpload {
        let headerBytes = try transport.receive(from: source, tag: UploadTag.header(client: client),
                                                maxBytes: UploadHeader.encodedSize)
        let header = try UploadHeader.decode(headerBytes)
        // The body is always drained, even after a bad header, so the next round's messages line up.
        let body = try receiveBody(client: client, from: source, transport: transport)
        let bytes = headerBytes.count + body.count
        do {
            try UploadValidation.check(header: header, plan: plan, client: client, samples: sampleCounts[client],
                                       expectedBytes: expectedBytes)
            return ReceivedUpload(header: header, values: try values(of: body), bytes: bytes)
        } catch let reason as UploadRejection {
            throw RefusedUpload(reason: reason, bytes: bytes)
        }
    }

    /// A drained upload body, not yet checked.
    private enum Body {
        /// An fp32 body, received straight into the values' array: `received` bytes of it written.
        case values([Float], received: Int)
        /// A codec's bytes.
        case encoded([UInt8])

        var count: Int {
            switch self {
            case let .values(_, received): return received
            case let .encoded(bytes): return bytes.count
            }
        }
    }

    /// Drains `client`'s body. An fp32 body is the values themselves: it is received straight
    /// into the array the server keeps, sparing a copy and a second allocation of the block
    /// (together they held a GPT-2-small layer's upload between two hosts to a third of plain
    /// MPI's bandwidth).
    private func receiveBody(client: Int, from source: Int, transport: Transport) throws -> Body {
        let tag = UploadTag.body(client: client)
        do {
            guard encoding == .fp32 else {
                return .encoded(try transport.receive(from: source, tag: tag, maxBytes: expectedBytes))
            }
            // Every value is written before use, or the upload is refused.
            var values = [Float](unsafeUninitializedCapacity: rows.count) { $1 = rows.count }
            let received = try values.withUnsafeMutableBytes { try transport.receive(from: source, tag: tag, into: $0) }
            return .values(values, received: received)
        } catch let error as TransportError {
            throw UploadRejection.transport("\(error)")
        }
    }

    /// The trained units' values a body carries: the exact size, decoded, every value finite.
    private func values(of body: Body) throws -> [Float] {
        switch body {
        case let .encoded(bytes):
            return try UploadCoding.decode(bytes, current: current, rows: rows, encoding: encoding)
        case let .values(values, received):
            guard received == expectedBytes else { throw UploadRejection.wrongSize(expected: expectedBytes, received: received) }
            if let bad = values.withUnsafeBufferPointer(UploadCoding.firstNonFinite) { throw UploadRejection.notFinite(index: bad) }
            return values
        }
    }
}
