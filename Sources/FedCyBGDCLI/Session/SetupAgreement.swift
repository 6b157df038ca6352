import Federation

/// Makes every rank agree on whether set-up worked before going on, so bad input ends the whole
/// job with one message instead of leaving ranks waiting on each other, and rank 0 writes no file
/// unless every rank is ready.
enum SetupAgreement {
    /// The status messages' tag, which no other message uses.
    static let tag = MessageTag.setupAgreement

    /// Every rank tells rank 0 whether its set-up worked; rank 0 broadcasts the lowest rank that
    /// failed. That rank reports its error (prefixed with its rank unless it is rank 0) and every
    /// other rank exits quietly: the failed rank's exit status fails the job.
    static func check<T>(_ setup: Result<T, Error>, transport: Transport) throws {
        let mine: UInt8 = setup.isSuccess ? 1 : 0
        var verdict: [UInt8] = []
        if transport.rank == 0 {
            var failed = mine == 1 ? -1 : 0
            for rank in 1..<max(transport.size, 1) {
                let status = try transport.receive(from: rank, tag: tag, maxBytes: 1)
                if failed < 0, status != [1] { failed = rank }
            }
            verdict = withUnsafeBytes(of: Int32(failed).littleEndian) { Array($0) }
        } else {
            try [mine].withUnsafeBytes { try transport.send($0, to: 0, tag: tag) }
        }
        try transport.broadcast(&verdict, root: 0)
        guard verdict.count == 4 else { throw CLIError("rank \(transport.rank): set-up agreement garbled; check that every rank runs the same program") }
        let failed = Int(Int32(littleEndian: verdict.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
        guard failed >= 0 else { return }
        guard failed == transport.rank, case let .failure(error) = setup else { throw QuietExit(rankThatFailed: failed) }
        if transport.rank == 0 { throw error }
        throw CLIError("rank \(transport.rank): \(error)")
    }
}

/// Ends a rank whose set-up worked when another rank's did not: that rank reports the problem,
/// and its exit status fails the job (exiting quietly lets it print before mpirun tears the job down).
struct QuietExit: Error {
    let rankThatFailed: Int
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}
