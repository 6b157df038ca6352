/// Moves bytes between the ranks of a federated job.
///
/// Rank 0 is the server; the others host clients. The MPI adapter (`MPITransport`) implements
/// this with non-blocking point-to-point calls and waits that sleep, so a rank that waits does not
/// burn a core: a broadcast is one `MPI_Isend` per rank (so a rank that stops taking it can be
/// named), a message an `MPI_Isend` matched by `MPI_Improbe`/`MPI_Imrecv`, a barrier `MPI_Ibarrier`.
/// `LocalTransport` is the one-rank case for tests and `P = 1` runs.
public protocol Transport: AnyObject {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// How many ranks the job has.
    var size: Int { get }

    /// Sends `bytes` from `root` to every rank. On the root, `bytes` is the payload; elsewhere it
    /// is replaced by what the root sent. Payloads of any length, including over 2^31 bytes.
    func broadcast(_ bytes: inout [UInt8], root: Int) throws

    /// Sends one message to `destination`, from a contiguous buffer, without copying it.
    func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws

    /// Receives one message from `source` with `tag`. A message longer than `maxBytes` is
    /// drained and refused with `TransportError.oversized`, so a faulty sender cannot make
    /// the receiver allocate without bound.
    func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8]

    /// Receives one message from `source` with `tag` straight into `buffer` and returns its
    /// length; a message longer than the buffer is drained and refused with
    /// `TransportError.oversized`. For large payloads the server keeps (uploads): no copy, no
    /// second allocation.
    func receive(from source: Int, tag: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int

    /// Waits until every rank has arrived.
    func barrier() throws
}

extension Transport {
    /// Through `receive(from:tag:maxBytes:)` and a copy, for transports with nothing faster.
    public func receive(from source: Int, tag: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let message = try receive(from: source, tag: tag, maxBytes: buffer.count)
        message.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { buffer.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
        }
        return message.count
    }
}
