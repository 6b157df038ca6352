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
