/// A payload that cannot be decoded. Each message names the codec and what is wrong, since a
/// payload of the wrong shape means the two ends disagree about the job or the program version.
public enum CodecError: Error, CustomStringConvertible, Equatable, Sendable {
    case sizeMismatch(encoding: String, values: Int, expected: Int, received: Int)
    case countMismatch(encoding: String, layout: Int, target: Int)
    case malformed(encoding: String, reason: String)

    public var description: String {
        switch self {
        case let .sizeMismatch(encoding, values, expected, received):
            return "\(encoding) payload is \(received) bytes, expected \(expected) for \(values) values; "
                + "both ends must run the same job and program version"
        case let .countMismatch(encoding, layout, target):
            return "\(encoding) decode into \(target) values, but the layout has \(layout)"
        case let .malformed(encoding, reason):
            return "malformed \(encoding) payload: \(reason)"
        }
    }
}
