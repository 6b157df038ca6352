/// Moves bytes between the ranks of a federated job.
///
/// Rank 0 is the server; the others host clients. The MPI adapter implements this over
/// `MPI_Ibcast`/`MPI_Isend`/`MPI_Irecv` with a sleeping wait, so a rank that waits does not
/// burn a core; `LocalTransport` is the one-rank case for tests and `P = 1` runs.
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

    /// Waits until every rank has arrived.
    func barrier() throws
}

/// A transport failure, with what the user can do about it.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    case oversized(source: Int, tag: Int, bytes: Int, limit: Int)
    case failed(call: String, code: Int32)
    case noPeer(rank: Int, size: Int)

    public var description: String {
        switch self {
        case let .oversized(source, tag, bytes, limit):
            return "message from rank \(source) (tag \(tag)) is \(bytes) bytes, over the limit of \(limit); the sender is faulty or runs a different job"
        case let .failed(call, code):
            return "\(call) failed with MPI error \(code); check that every rank runs the same program and job"
        case let .noPeer(rank, size):
            return "rank \(rank) does not exist in a job of \(size) ranks"
        }
    }
}

/// The one-rank transport: broadcasts are no-ops and messages to self are queued in memory.
public final class LocalTransport: Transport {
    public let rank = 0
    public let size = 1
    private var mailbox: [Int: [[UInt8]]] = [:]

    public init() {}

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        guard root == 0 else { throw TransportError.noPeer(rank: root, size: 1) }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        guard destination == 0 else { throw TransportError.noPeer(rank: destination, size: 1) }
        mailbox[tag, default: []].append(Array(bytes))
    }

    public func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        guard source == 0 else { throw TransportError.noPeer(rank: source, size: 1) }
        guard var queue = mailbox[tag], !queue.isEmpty else {
            throw TransportError.failed(call: "receive: no message queued for tag \(tag) in a one-rank job", code: -1)
        }
        let message = queue.removeFirst()
        mailbox[tag] = queue
        guard message.count <= maxBytes else {
            throw TransportError.oversized(source: source, tag: tag, bytes: message.count, limit: maxBytes)
        }
        return message
    }

    public func barrier() throws {}
}
