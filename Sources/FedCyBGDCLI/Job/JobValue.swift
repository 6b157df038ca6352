import Corpus
import Federation
import GPT

/// A job value as TOML writes it: what a job file holds and what the effective job stores.
public enum JobLiteral: Equatable, Sendable {
    case int(Int), number(Double), bool(Bool), string(String), strings([String])

    /// The TOML types a key can be written as; `description` says it the way an error does.
    public enum Kind: Sendable, CustomStringConvertible {
        case int, number, bool, string, strings

        public var description: String {
            switch self {
            case .int: return "a whole number"
            case .number: return "a number"
            case .bool: return "true or false"
            case .string: return "a string"
            case .strings: return "a list of strings, e.g. [\"art\", \"computers\"]"
            }
        }
    }

    /// The value written as TOML.
    public var toml: String {
        switch self {
        case .int(let value): return "\(value)"
        case .number(let value): return "\(value)"
        case .bool(let value): return "\(value)"
        case .string(let text): return Self.quoted(text)
        case .strings(let texts): return "[" + texts.map(Self.quoted).joined(separator: ", ") + "]"
        }
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A type a job key parses into: how TOML writes it and how it is read back.
public protocol JobValue: Sendable, Equatable {
    /// The value without optionality, which a key's range checks.
    associatedtype Bare: Sendable = Self
    static var kind: JobLiteral.Kind { get }
    /// Reads a literal of `kind`; a spelling the type does not accept throws an error naming `key`.
    init(literal: JobLiteral, key: String) throws
    /// The literal, or nil for an absent optional.
    var literal: JobLiteral? { get }
    var bare: Bare? { get }
}

extension JobValue where Bare == Self {
    public var bare: Self? { self }
}

/// A job value the literal does not give; the message is the part after the key.
struct JobValueProblem: Error, CustomStringConvertible {
    let description: String
}

extension Int: JobValue {
    public static var kind: JobLiteral.Kind { .int }
    public init(literal: JobLiteral, key: String) throws {
        guard case .int(let value) = literal else { throw JobValueProblem(description: "must be \(Self.kind)") }
        self = value
    }
    public var literal: JobLiteral? { .int(self) }
}

extension UInt64: JobValue {
    public static var kind: JobLiteral.Kind { .int }
    public init(literal: JobLiteral, key: String) throws {
        guard case .int(let value) = literal else { throw JobValueProblem(description: "must be \(Self.kind)") }
        guard value >= 0 else { throw JobValueProblem(description: "must not be negative") }
        self = UInt64(value)
    }
    public var literal: JobLiteral? { .int(Int(truncatingIfNeeded: self)) }
}

extension Double: JobValue {
    public static var kind: JobLiteral.Kind { .number }
    public init(literal: JobLiteral, key: String) throws {
        switch literal {
        case .number(let value): self = value
        case .int(let value): self = Double(value)
        default: throw JobValueProblem(description: "must be \(Self.kind)")
        }
    }
    public var literal: JobLiteral? { .number(self) }
}

extension Bool: JobValue {
    public static var kind: JobLiteral.Kind { .bool }
    public init(literal: JobLiteral, key: String) throws {
        guard case .bool(let value) = literal else { throw JobValueProblem(description: "must be \(Self.kind)") }
        self = value
    }
    public var literal: JobLiteral? { .bool(self) }
}

extension String: JobValue {
    public static var kind: JobLiteral.Kind { .string }
    public init(literal: JobLiteral, key: String) throws {
        guard case .string(let text) = literal else { throw JobValueProblem(description: "must be \(Self.kind)") }
        self = text
    }
    public var literal: JobLiteral? { .string(self) }
}

extension Array: JobValue where Element == String {
    public static var kind: JobLiteral.Kind { .strings }
    public init(literal: JobLiteral, key: String) throws {
        guard case .strings(let texts) = literal else { throw JobValueProblem(description: "must be \(Self.kind)") }
        self = texts
    }
    public var literal: JobLiteral? { .strings(self) }
}

extension Optional: JobValue where Wrapped: JobValue {
    public typealias Bare = Wrapped.Bare
    public static var kind: JobLiteral.Kind { Wrapped.kind }
    public init(literal: JobLiteral, key: String) throws { self = try Wrapped(literal: literal, key: key) }
    public var literal: JobLiteral? { self.flatMap { $0.literal } }
    public var bare: Wrapped.Bare? { self.flatMap { $0.bare } }
}

/// An option written as one of a closed set of strings, parsed by the type that uses it.
public protocol JobChoice: JobValue where Bare == Self {
    init(parsing text: String, key: String) throws
    /// The spelling a job file uses.
    var spelling: String { get }
}

extension JobChoice {
    public static var kind: JobLiteral.Kind { .string }
    public init(literal: JobLiteral, key: String) throws {
        guard case .string(let text) = literal else { throw JobValueProblem(description: "must be \(Self.kind)") }
        try self.init(parsing: text, key: key)
    }
    public var literal: JobLiteral? { .string(spelling) }
}

extension JobChoice where Self: RawRepresentable, RawValue == String {
    public var spelling: String { rawValue }
}

extension Algorithm: JobChoice {}
extension BlockSet: JobChoice {}
extension BlockOrder: JobChoice {}
extension ClientSelection: JobChoice {}
extension LayerDrop.Rule: JobChoice {}

extension LearningRateSchedule.Decay: JobChoice {
    public init(parsing text: String, key: String) throws {
        guard let decay = Self(rawValue: text) else {
            throw OptionError(key: key, value: JobLiteral.quoted(text), expected: Self.choices)
        }
        self = decay
    }
    static var choices: String { "one of " + allCases.map { JobLiteral.quoted($0.rawValue) }.joined(separator: ", ") }
}

extension BlockEncoding: JobChoice {
    /// Any family; `upload.codec` narrows it with its range.
    public init(parsing text: String, key: String) throws { try self.init(parsing: text, key: key, allowed: BlockEncoding.downloadKinds) }
    public var spelling: String { description }
}

extension Architecture: JobChoice {
    public init(parsing text: String, key: String) throws {
        guard let family = Self(rawValue: text) else {
            throw JobValueProblem(description: "must be \"gpt2\" or \"llama\", not \"\(text)\"")
        }
        self = family
    }
}

extension BadRecordPolicy: JobChoice {
    public init(parsing text: String, key: String) throws {
        guard let policy = Self(rawValue: text) else {
            throw JobValueProblem(description: "must be \"stop\" (a bad record ends the run) or \"skip\" (left out and counted), not \"\(text)\"")
        }
        self = policy
    }
}

/// `data.tokenizer`: how text becomes ids (docs/MODELS.md).
public enum TokenizerKind: String, CaseIterable, Sendable, JobChoice {
    /// One id per byte: vocabulary 256, losses in nats per byte.
    case byte
    /// GPT-2's byte-level BPE from vocab.json and merges.txt.
    case bpe
    /// A Hugging Face tokenizer.json.
    case hf

    public init(parsing text: String, key: String) throws {
        guard let kind = Self(rawValue: text) else {
            throw JobValueProblem(description: "must be \"byte\", \"bpe\" or \"hf\", not \"\(text)\"")
        }
        self = kind
    }
}

/// `data.format`: plain text files, or instruction records (docs/DATA.md).
public enum DataFormat: String, CaseIterable, Sendable, JobChoice {
    case text, jsonl

    public init(parsing text: String, key: String) throws {
        guard let format = Self(rawValue: text) else {
            throw JobValueProblem(description: "must be \"text\" (plain text files) or \"jsonl\" (instruction records), not \"\(text)\"")
        }
        self = format
    }
}

extension PartitionScheme.Kind: JobChoice {
    public init(parsing text: String, key: String) throws {
        guard let kind = Self(rawValue: text) else {
            throw JobValueProblem(description: "must be \"by-file\", \"by-field\", \"iid\" or \"dirichlet\", not \"\(text)\"")
        }
        self = kind
    }
}
