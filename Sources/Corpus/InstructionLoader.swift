import Determinism
import Foundation

/// What a bad record does (`data.bad_records`).
public enum BadRecordPolicy: String, Sendable, CaseIterable {
    /// The run stops at the first bad record, naming its line, before anything is written.
    case stop
    /// Bad records are left out, counted, and listed in partition.h5.
    case skip
}

/// Everything that decides how a JSONL file becomes clients, rows and held-out records.
public struct InstructionSettings: Sendable {
    /// By field, IID or Dirichlet (by file is for plain text).
    public var scheme: PartitionScheme
    /// The field whose value labels a record (`data.partition_field`).
    public var labelField: String
    public var templates: PromptTemplates
    public var validationFraction: Double
    public var testFraction: Double
    public var sequence: Int
    /// Whether short records share rows (`data.pack`), or each has its own padded row.
    public var pack: Bool
    public var seed: UInt64
    public var badRecords: BadRecordPolicy

    public init(scheme: PartitionScheme, labelField: String = "task",
                templates: PromptTemplates = PromptTemplates(), validationFraction: Double = 0.1, testFraction: Double = 0.1,
                sequence: Int, pack: Bool = true, seed: UInt64, badRecords: BadRecordPolicy = .stop) {
        self.scheme = scheme; self.labelField = labelField; self.templates = templates
        self.validationFraction = validationFraction; self.testFraction = testFraction; self.sequence = sequence
        self.pack = pack; self.seed = seed; self.badRecords = badRecords
    }
}

/// A held-out record: which split and client it belongs to, and its tokens.
public struct HeldOutRecord: Sendable, Hashable {
    /// The validation split (for choosing learning rates, and the run's eval loss) or the test split.
    public enum Split: Int, Sendable { case validation = 0, test = 1 }

    public let split: Split
    public let client: Int
    public let record: TokenizedRecord
}

/// Reads JSONL instruction data and splits it into clients (docs/DATA.md).
///
/// Each client's records are split, in an order shuffled from (seed, client), into validation
/// (`validationFraction`, rounded), test (`testFraction`, rounded) and training records; a client
/// always keeps at least one training record. Training records are packed into the client's rows
/// in file order; validation records of every client together make the evaluation's rows.
public enum InstructionLoader {
    /// Reads `path` (one JSONL file) and splits it.
    public static func load(path: String, tokenizer: any TextTokenizer, settings: InstructionSettings) throws -> PartitionedCorpus {
        let expanded = NSString(string: path).expandingTildeInPath
        guard let info = FileInfo(following: expanded) else { throw CorpusError.missing(path: path) }
        guard info.isRegular else {
            throw CorpusError.invalidSetting(name: "data.corpus", value: "\"\(path)\"",
                                             expected: "one JSONL file when data.format = \"jsonl\" (a folder is read only as plain text)")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: expanded)) } catch {
            throw CorpusError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try federate(bytes: [UInt8](data), source: path, tokenizer: tokenizer, settings: settings)
    }

    /// Parses, checks, tokenises and splits `bytes`; `source` names the file in messages.
    public static func federate(bytes: [UInt8], source: String, tokenizer: any TextTokenizer,
                                settings: InstructionSettings) throws -> PartitionedCorpus {
        try check(settings)
        let needsLabel: Bool
        if case .iid = settings.scheme { needsLabel = false } else { needsLabel = true }
        let parsed = InstructionParser.parse(bytes, labelField: settings.labelField, labelRequired: needsLabel)
        let encoded = InstructionEncoder.encode(parsed.records, templates: settings.templates, tokenizer: tokenizer,
                                                maxTokens: settings.sequence + 1)
        let bad = (parsed.bad + encoded.bad).sorted { $0.line < $1.line }
        if settings.badRecords == .stop, let first = bad.first {
            throw CorpusError.badRecord(path: source, line: first.line, reason: first.reason, others: bad.count - 1)
        }
        let records = encoded.records
        guard !records.isEmpty else { throw CorpusError.noRecords(path: source, bad: bad.count) }
        let labels = Array(Set(records.compactMap(\.label))).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var notices: [String] = []
        if !bad.isEmpty {
            notices.append("skipped \(bad.count) bad record\(bad.count == 1 ? "" : "s") of \(source) (data.bad_records = \"skip\"; "
                + "listed in partition.h5), first at line \(bad[0].line): \(bad[0].reason)")
        }
        let (members, names) = try assign(records, labels: labels, settings: settings, source: source, notices: &notices)
        return build(records, members: members, names: names, labels: labels, settings: settings,
                     tokenizer: tokenizer, skipped: bad, notices: notices)
    }

    private static func check(_ settings: InstructionSettings) throws {
        if case .byFile = settings.scheme {
            throw CorpusError.invalidSetting(name: "data.partition", value: "\"by-file\"",
                                             expected: "\"by-field\", \"iid\" or \"dirichlet\" for JSONL records "
                                                 + "(\"by-file\" splits plain text, data.format = \"text\")")
        }
        for (key, value) in [("data.validation_fraction", settings.validationFraction), ("data.test_fraction", settings.testFraction)]
        where !(value.isFinite && value >= 0 && value < 1) {
            throw CorpusError.invalidSetting(name: key, value: "\(value)", expected: "a fraction in [0, 1), e.g. 0.1")
        }
        guard settings.validationFraction + settings.testFraction < 1 else {
            throw CorpusError.invalidSetting(name: "data.test_fraction", value: "\(settings.testFraction)",
                                             expected: "less than 1 - data.validation_fraction, so clients keep training records")
        }
        guard settings.sequence > 0 else {
            throw CorpusError.invalidSetting(name: "train.sequence", value: "\(settings.sequence)", expected: "a positive length, e.g. 256")
        }
    }

    /// Each client's records (indices into `records`) and its name.
    private static func assign(_ records: [TokenizedRecord], labels: [String], settings: InstructionSettings, source: String,
                               notices: inout [String]) throws -> ([[Int]], [String]) {
        switch settings.scheme {
        case .byField(let wanted):
            if let wanted, wanted != labels.count {
                throw CorpusError.invalidSetting(
                    name: "data.clients", value: "\(wanted)",
                    expected: "\(labels.count), the number of distinct '\(settings.labelField)' values in \(source) "
                        + "(data.partition = \"by-field\" makes one client per value), or no value")
            }
            let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
            var members = [[Int]](repeating: [], count: labels.count)
            for (i, record) in records.enumerated() { members[index[record.label!]!].append(i) }
            return (members, labels)
        case .iid(let clients):
            try requireRecords(records.count, clients: clients, source: source)
            var rng = CounterRNG(seed: settings.seed, purpose: .partition, round: 0, client: 1)
            let order = shuffled(Array(records.indices), &rng)
            let members = (0..<clients).map { c in Array(order[(c * order.count / clients)..<((c + 1) * order.count / clients)]).sorted() }
            return (members, (0..<clients).map { "iid-\($0)" })
        case let .dirichlet(clients, alpha):
            try requireRecords(records.count, clients: clients, source: source)
            return (dirichlet(records, labels: labels, clients: clients, alpha: alpha, seed: settings.seed, notices: &notices),
                    (0..<clients).map { "dirichlet-\($0)" })
        case .byFile:
            preconditionFailure("check(_:) refuses by-file for records")
        }
    }

    private static func requireRecords(_ count: Int, clients: Int, source: String) throws {
        guard clients >= 1 else { throw CorpusError.invalidSetting(name: "data.clients", value: "\(clients)", expected: "a positive count") }
        guard count >= clients else {
            throw CorpusError.invalidSetting(name: "data.clients", value: "\(clients)",
                                             expected: "at most \(count), the usable records of \(source), so every client holds one")
        }
    }

    /// Each label's records, shuffled, shared out in contiguous pieces by Dirichlet shares
    /// (`DirichletDraw`, drawn from (seed, label) as the text partition does); a client that
    /// drew no record takes one (`DirichletDraw.repairEmptyClients`).
    private static func dirichlet(_ records: [TokenizedRecord], labels: [String], clients: Int, alpha: Double, seed: UInt64,
                                  notices: inout [String]) -> [[Int]] {
        var draws: [[Double]] = []
        var counts: [[Int]] = []
        var pools: [[Int]] = []
        for (label, name) in labels.enumerated() {
            var rng = CounterRNG(seed: seed, purpose: .partition, round: UInt64(label))
            let shares = DirichletDraw.sample(alpha: alpha, count: clients, rng: &rng)
            let pool = shuffled(records.indices.filter { records[$0].label == name }, &rng)
            draws.append(shares)
            counts.append(DirichletDraw.apportion(pool.count, shares: shares))
            pools.append(pool)
        }
        DirichletDraw.repairEmptyClients(&counts, draws: draws, labels: labels, notices: &notices)
        var members = [[Int]](repeating: [], count: clients)
        for (label, pool) in pools.enumerated() {
            var start = 0
            for client in 0..<clients {
                members[client] += pool[start..<(start + counts[label][client])]
                start += counts[label][client]
            }
        }
        return members.map { $0.sorted() }
    }

    static func shuffled(_ values: [Int], _ rng: inout CounterRNG) -> [Int] {
        var out = values
        if out.count > 1 {
            for i in stride(from: out.count - 1, to: 0, by: -1) { out.swapAt(i, rng.nextInt(below: i + 1)) }
        }
        return out
    }

    /// Splits each client's records into validation, test and training, packs the rows.
    private static func build(_ records: [TokenizedRecord], members: [[Int]], names: [String], labels: [String],
                              settings: InstructionSettings, tokenizer: any TextTokenizer, skipped: [BadRecord],
                              notices: [String]) -> PartitionedCorpus {
        let padding = InstructionEncoder.endOfSequence(tokenizer)
        var shards: [ClientShard] = []
        var heldOut: [HeldOutRecord] = []
        var mix: [[Int]] = []
        let labelIndex = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        for (client, mine) in members.enumerated() {
            let n = mine.count
            let test = min(Int((Double(n) * settings.testFraction).rounded()), n - 1)
            let validation = min(Int((Double(n) * settings.validationFraction).rounded()), n - 1 - test)
            var rng = CounterRNG(seed: settings.seed, purpose: .validation, client: UInt64(client))
            let order = shuffled(mine, &rng)
            for i in order[..<validation].sorted() { heldOut.append(HeldOutRecord(split: .validation, client: client, record: records[i])) }
            for i in order[validation..<(validation + test)].sorted() { heldOut.append(HeldOutRecord(split: .test, client: client, record: records[i])) }
            let training = order[(validation + test)...].sorted().map { records[$0] }
            let rows = TokenRows(records: training, sequence: settings.sequence, pack: settings.pack, padding: padding)
            shards.append(ClientShard(client: client, name: names[client], data: .rows(rows)))
            var row = [Int](repeating: 0, count: labels.count)
            for record in training { if let label = record.label { row[labelIndex[label]!] += record.countedTokens } }
            mix.append(row)
        }
        let validationRecords = heldOut.filter { $0.split == .validation }.map(\.record)
        let validationRows = TokenRows(records: validationRecords, sequence: settings.sequence, pack: settings.pack, padding: padding)
        var allNotices = notices
        if settings.validationFraction > 0 && validationRecords.isEmpty {
            allNotices.append("the validation split is empty (every client too small for data.validation_fraction = "
                + "\(settings.validationFraction)): evaluation will be empty; raise data.validation_fraction")
        }
        let context = HeldOutContext(tasks: labels, tokenizer: tokenizer, endOfSequence: padding,
                                     endMarker: settings.templates.endMarker, sequence: settings.sequence, pack: settings.pack)
        let corpus = FederatedCorpus(clients: shards, validation: .rows(validationRows), heldOut: heldOut, context: context,
                                     notices: allNotices)
        let everyLabelled = records.allSatisfy { $0.label != nil }
        return PartitionedCorpus(corpus: corpus, labels: labels, labelTokens: everyLabelled && !labels.isEmpty ? mix : nil,
                                 skipped: skipped)
    }
}
