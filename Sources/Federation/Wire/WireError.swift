/// A message that does not decode.
public enum WireError: Error, CustomStringConvertible, Equatable {
    case truncated(needed: Int, remaining: Int)
    case badValue(String)

    public var description: String {
        switch self {
        case let .truncated(needed, remaining):
            return "message truncated: needed \(needed) more bytes, \(remaining) left; every rank must run the same program version"
        case let .badValue(what):
            return "message has a bad value: \(what); every rank must run the same program version and job"
        }
    }
}
