/// One job key, declared once in `JobSchema`: where it lives, its type and default, the values it
/// accepts, whether it may change on resume, when the effective job records it, and one doc line.
/// Reading, the unknown-key error, range checks, the effective TOML, the resume comparison and the
/// key table in docs/JOBS.md all come from these declarations.
public struct JobKey<Value: JobValue>: Sendable {
    /// "section.name", or "name" at the top level.
    public let path: String
    public let defaultValue: Value
    /// The default as docs/JOBS.md says it, when it is not a plain value.
    let defaultText: String?
    let range: JobRange<Value.Bare>?
    /// Whether a resumed run may change it without `--force`: it alters how long and where the run
    /// goes, not what it computes.
    let mayChangeOnResume: Bool
    let record: JobRecording
    public let doc: String

    init(_ path: String, _ defaultValue: Value, default defaultText: String? = nil, range: JobRange<Value.Bare>? = nil,
         mayChangeOnResume: Bool = false, record: JobRecording = .always, doc: String) {
        self.path = path
        self.defaultValue = defaultValue
        self.defaultText = defaultText
        self.range = range
        self.mayChangeOnResume = mayChangeOnResume
        self.record = record
        self.doc = doc
    }

    /// The TOML table the key sits in ("" for the top level) and its name there.
    var section: String { path.contains(".") ? String(path.split(separator: ".")[0]) : "" }
    var name: String { path.contains(".") ? String(path.split(separator: ".", maxSplits: 1)[1]) : path }
}

/// When the effective job (what a run stores, and resume compares) records a key.
public enum JobRecording: Sendable {
    /// Always, with the default when the file left it out.
    case always
    /// Only when its value is not the default, so runs stored before the key existed compare equal.
    case unlessDefault
    /// Only when the job's other keys make it mean something (and then always).
    case when(@Sendable (JobFile) -> Bool)
    /// As another value: a key whose effective value is worked out from others (`train.rounds`).
    case computed(@Sendable (JobFile) -> JobLiteral)
    /// Never: an alias or a key folded into another.
    case never
}

/// The values a numeric key accepts, with the words an error and the docs use for them.
public struct JobRange<Value: Sendable>: Sendable {
    let contains: @Sendable (Value) -> Bool
    /// "at least 1", "in [0, 1)", ...
    let text: String

    init(_ text: String, _ contains: @escaping @Sendable (Value) -> Bool) {
        self.text = text
        self.contains = contains
    }
}

extension JobRange where Value == Int {
    static func atLeast(_ low: Int) -> Self { Self("at least \(low)") { $0 >= low } }
}

extension JobRange where Value == Double {
    /// Greater than zero and finite.
    static let positive = Self("a positive number") { $0 > 0 && $0.isFinite }
    /// Zero or more, finite.
    static let nonNegative = Self("a number ≥ 0") { $0 >= 0 && $0.isFinite }
    /// [0, 1): a decay rate or a fraction that cannot be all.
    static let belowOne = Self("in [0, 1)") { $0 >= 0 && $0 < 1 }
    /// (0, 1): a fraction that can be neither none nor all.
    static let strictlyBetweenZeroAndOne = Self("between 0 and 1 (exclusive)") { $0 > 0 && $0 < 1 }
    /// [0, 1].
    static let zeroToOne = Self("in [0, 1]") { $0 >= 0 && $0 <= 1 }
}

/// A key of any value type, as the schema's walkers see it.
protocol AnyJobKey: Sendable {
    var path: String { get }
    var section: String { get }
    var name: String { get }
    var doc: String { get }
    var mayChangeOnResume: Bool { get }
    var kind: JobLiteral.Kind { get }
    /// The default as docs/JOBS.md shows it.
    var defaultDescription: String { get }
    /// The values the key accepts, when its type alone does not say.
    var rangeDescription: String? { get }
    /// Decodes and range-checks a literal read from a file; the message names the key.
    func check(_ literal: JobLiteral) throws(JobKeyProblem)
    /// The key's TOML value in the effective job, or nil when it is not recorded.
    func recorded(in job: JobFile) -> JobLiteral?
}

/// A value a key refuses: the message after the key's name.
struct JobKeyProblem: Error {
    let message: String
}

extension JobKey: AnyJobKey {
    var kind: JobLiteral.Kind { Value.kind }

    var defaultDescription: String {
        defaultText ?? defaultValue.literal.map { "`\($0.toml)`" } ?? "—"
    }

    var rangeDescription: String? { range?.text }

    func check(_ literal: JobLiteral) throws(JobKeyProblem) {
        let value: Value
        do { value = try Value(literal: literal, key: path) } catch let problem as JobValueProblem {
            throw JobKeyProblem(message: "'\(path)' \(problem.description)")
        } catch {
            throw JobKeyProblem(message: "\(error)")
        }
        if let range, let bare = value.bare, !range.contains(bare) {
            throw JobKeyProblem(message: "'\(path)' must be \(range.text), not \(literal.toml)")
        }
    }

    func recorded(in job: JobFile) -> JobLiteral? {
        let value = job.value(of: self)
        switch record {
        case .always: return value.literal
        case .unlessDefault: return value == defaultValue ? nil : value.literal
        case .when(let applies): return applies(job) ? value.literal : nil
        case .computed(let literal): return literal(job)
        case .never: return nil
        }
    }
}
