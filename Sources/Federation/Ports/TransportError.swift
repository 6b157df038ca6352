/// A transport failure, with what the user can do about it.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    case oversized(source: Int, tag: Int, bytes: Int, limit: Int)
    case failed(call: String, code: Int32)
    case noPeer(rank: Int, size: Int)
    /// A peer sent nothing for `seconds` while this rank waited for it (`rank` is nil when the
    /// wait was a collective one, where MPI does not say which rank holds it up).
    case silent(rank: Int?, host: String?, seconds: Double, waitingFor: String)

    public var description: String {
        switch self {
        case let .oversized(source, tag, bytes, limit):
            return "message from rank \(source) (tag \(tag)) is \(bytes) bytes, over the limit of \(limit); the sender is faulty or runs a different job"
        case let .failed(call, code):
            return "\(call) failed with MPI error \(code); check that every rank runs the same program and job"
        case let .noPeer(rank, size):
            return "rank \(rank) does not exist in a job of \(size) ranks"
        case let .silent(rank, host, seconds, waitingFor):
            let who = rank.map { "rank \($0)" + (host.map { " on host \($0)" } ?? "") } ?? "a rank"
            return "\(who) went silent: no \(waitingFor) for \(Int(seconds.rounded())) s"
        }
    }
}
