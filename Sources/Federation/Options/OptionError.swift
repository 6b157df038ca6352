/// A job-file option the program cannot use.
///
/// The message names the key, the value as written and what is accepted, in the same
/// "invalid KEY = VALUE — expected ..." shape as `CorpusError.invalidSetting`, so the command
/// line can print either as is.
public struct OptionError: Error, CustomStringConvertible, Equatable, Sendable {
    public let key: String
    public let value: String
    public let expected: String

    public init(key: String, value: String, expected: String) {
        self.key = key
        self.value = value
        self.expected = expected
    }

    public var description: String { "invalid \(key) = \(value) — expected \(expected)" }

    /// `value` quoted the way TOML writes a string, so the user sees exactly what was read.
    static func quoted(_ text: String) -> String { "\"\(text)\"" }

    /// "one of "a", "b", "c"", for a closed set of spellings.
    static func oneOf(_ choices: [String]) -> String {
        "one of " + choices.map(quoted).joined(separator: ", ")
    }
}

/// Parses a closed set of job-file spellings into a `RawRepresentable` option.
extension RawRepresentable where Self: CaseIterable, RawValue == String {
    /// Case-sensitive on purpose: job files are written once and read many times, and one
    /// spelling per value keeps them greppable.
    static func parse(_ text: String, key: String) throws -> Self {
        if let value = Self(rawValue: text) { return value }
        throw OptionError(key: key, value: OptionError.quoted(text), expected: OptionError.oneOf(allCases.map(\.rawValue)))
    }
}
