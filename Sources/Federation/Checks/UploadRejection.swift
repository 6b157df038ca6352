/// Why the server left an upload out of the aggregate.
public enum UploadRejection: Error, Equatable, CustomStringConvertible {
    case wrongHeader(String)
    case wrongSize(expected: Int, received: Int)
    case notFinite(index: Int)
    case transport(String)
    /// The update's RMS (`UpdateSize.rms`) is over the norm guard's bound.
    case updateTooLarge(rms: Double, limit: Double)
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
        case let .updateTooLarge(rms, limit): return "update RMS \(rms) is over the bound \(limit)"
        case let .undecodable(what): return "upload body does not decode: \(what)"
        }
    }
}
