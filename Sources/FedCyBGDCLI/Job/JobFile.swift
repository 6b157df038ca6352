import Federation
import Foundation
import TOMLKit

/// A job file: everything a run needs, read from TOML and checked against `JobSchema`.
///
/// Layout (see `jobs/demo.toml` and `docs/JOBS.md`): top-level `name`, `output`, `seed`, and the
/// tables `[model]`, `[data]`, `[train]`, `[server]`, `[download]`, `[upload]` and `[lora]`. A key
/// this program does not know is an error that names it, so a typo never silently falls back to a
/// default. Each key reads as a typed property, `job.learningRate`, looked up in the schema.
@dynamicMemberLookup
public struct JobFile: Equatable, Sendable {
    /// The values the file (or a command-line override, or the model source) set; every other key has its default.
    private var literals: [String: JobLiteral] = [:]
    /// The text the job was read from, stored in the run file.
    public var text: String
    /// Where it was read from, for messages.
    public var path: String

    init(text: String, path: String) {
        self.text = text
        self.path = path
    }

    public subscript<Value>(dynamicMember key: KeyPath<JobSchema, JobKey<Value>>) -> Value {
        get { value(of: JobSchema.shared[keyPath: key]) }
        set { set(JobSchema.shared[keyPath: key], to: newValue) }
    }

    /// A key's value: what was set, else its default. Set values were checked when they were read.
    func value<Value>(of key: JobKey<Value>) -> Value {
        guard let literal = literals[key.path] else { return key.defaultValue }
        guard let value = try? Value(literal: literal, key: key.path) else {
            preconditionFailure("\(key.path) holds \(literal.toml), which its own check accepted")
        }
        return value
    }

    mutating func set<Value>(_ key: JobKey<Value>, to value: Value) {
        literals[key.path] = value.literal
    }

    /// Whether the file (or an override) set the key, rather than leaving it to its default.
    public func isSet<Value>(_ key: KeyPath<JobSchema, JobKey<Value>>) -> Bool {
        literals[JobSchema.shared[keyPath: key].path] != nil
    }

    /// Whether the corpus is instruction records rather than plain text.
    public var isInstructionData: Bool { self.format == .jsonl }

    /// What `server.round_timeout` is when unset: long enough for any round a user runs.
    public static let defaultRoundTimeout = 1800.0

    /// Total rounds: `rounds` if given, else `cycles` times the schedule's cycle length.
    public var totalRounds: Int {
        self.rounds ?? (self.cycles ?? 1)
            * CycleSchedule.cycleLength(layers: self.layers, blockSet: self.blocks, embeddingShards: self.embeddingShards)
    }
}

/// A job file the program cannot use; the message names the file, the key and the fix.
public struct JobFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ path: String, _ message: String) { description = "\(path): \(message)" }
}

extension JobFile {
    /// Reads and checks a job file.
    public static func load(path: String) throws -> JobFile {
        try parse(text: JobFileText.read(path), path: path)
    }

    /// Parses job text; `path` is used only in messages.
    public static func parse(text: String, path: String) throws -> JobFile {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw JobFileError(path, "not valid TOML at line \(error.source.begin.line): \(error.description)")
        }
        var job = JobFile(text: text, path: path)
        try job.read(root)
        try job.checkEachValue()
        try job.resolveDefaultsThatDependOnOtherKeys()
        try job.validate()
        return job
    }

    /// Takes every key the schema declares from the TOML tables, refusing unknown keys and wrong types.
    private mutating func read(_ root: TOMLTable) throws {
        let schema = JobSchema.shared
        let keys = schema.all
        let known = Dictionary(grouping: keys, by: \.section).mapValues { Set($0.map(\.name)) }
        for section in schema.sections where root[section] != nil && root[section]?.table == nil {
            throw JobFileError(path, "'\(section)' must be a table ([\(section)])")
        }
        let topLevel = known["", default: []].union(schema.sections)
        for key in root.keys.sorted() where !topLevel.contains(key) {
            throw JobFileError(path, "unknown key '\(key)'; top-level keys are: \(topLevel.sorted().joined(separator: ", "))")
        }
        for section in schema.sections {
            guard let table = root[section]?.table else { continue }
            let names = known[section, default: []]
            for key in table.keys.sorted() where !names.contains(key) {
                throw JobFileError(path, "unknown key '\(section).\(key)'; keys in [\(section)] are: \(names.sorted().joined(separator: ", "))")
            }
        }
        for key in keys {
            let table = key.section.isEmpty ? root : root[key.section]?.table
            guard let raw = table?[key.name] else { continue }
            guard let literal = Self.literal(raw, as: key.kind) else {
                throw JobFileError(path, "'\(key.path)' must be \(key.kind)")
            }
            literals[key.path] = literal
        }
    }

    private static func literal(_ raw: TOMLValueConvertible, as kind: JobLiteral.Kind) -> JobLiteral? {
        switch kind {
        case .int: return raw.int.map(JobLiteral.int)
        case .number: return (raw.double ?? raw.int.map(Double.init)).map(JobLiteral.number)
        case .bool: return raw.bool.map(JobLiteral.bool)
        case .string: return raw.string.map(JobLiteral.string)
        case .strings:
            guard let array = raw.array else { return nil }
            let texts = array.compactMap { $0.string }
            return texts.count == array.count ? .strings(texts) : nil
        }
    }

    /// Checks every set value against its key's type and range, so `value(of:)` can read it.
    func checkEachValue() throws {
        for key in JobSchema.shared.all {
            guard let literal = literals[key.path] else { continue }
            do { try key.check(literal) } catch { throw JobFileError(path, error.message) }
        }
    }

    /// The defaults that follow from other keys, fixed once so the effective job records them.
    private mutating func resolveDefaultsThatDependOnOtherKeys() throws {
        if !isSet(\.name) { self.name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
        // Records have no files to split by; their natural split is by their label field.
        if isInstructionData, !isSet(\.partition) { self.partition = .byField }
        if self.tokenizerJSON != nil, !isSet(\.tokenizer) { self.tokenizer = .hf }
        if let perBlock = self.clientsPerBlock {
            guard !isSet(\.clientsPerRound) else {
                throw JobFileError(path, "'train.clients_per_block' and 'train.clients_per_round' are the same key (k); set one of them")
            }
            self.clientsPerRound = perBlock
        }
    }
}
