/// How documents are split across clients.
public enum PartitionScheme: Hashable, Sendable {
    /// Each document is one client (natural non-IID split).
    case byFile
    /// The concatenated training text cut into N equal shards.
    case iid(clients: Int)
}

/// One client's training data.
public struct ClientShard: Sendable {
    /// The client id, 0..<N in partition order.
    public let client: Int
    /// The document's file name (by-file) or `iid-<id>`.
    public let name: String
    /// The client's training text (empty for instruction data, which is in `rows`).
    public let tokens: [TokenID]
    /// Instruction data: the client's training records packed into rows (`data.format = "jsonl"`).
    public let rows: TokenRows?
    /// How many tokens the client trains on; the aggregation weight. For rows, their positions
    /// (rows × sequence), so `train.local_epochs` counts passes over the rows.
    public var sampleCount: Int { rows.map { $0.count * $0.sequence } ?? tokens.count }

    public init(client: Int, name: String, tokens: [TokenID]) {
        self.client = client
        self.name = name
        self.tokens = tokens
        self.rows = nil
    }

    /// A client of instruction data.
    public init(client: Int, name: String, rows: TokenRows) {
        self.client = client
        self.name = name
        self.tokens = []
        self.rows = rows
    }
}

/// The federated view of a corpus: client shards plus one held-out validation text.
public struct FederatedCorpus: Sendable {
    public let clients: [ClientShard]
    /// The tails of every document, in document order. It does not depend on the partition
    /// scheme or the sequence length, so eval losses of by-file and IID runs are comparable.
    public let validation: [TokenID]
    /// What was merged or skipped, for the user (e.g. "skipped 'goedel': 812 bytes, too small for one sequence").
    public let notices: [String]

    /// Instruction data: the validation records packed into rows (`validation` is then empty).
    public let validationRows: TokenRows?
    /// Instruction data: every held-out record (validation and test splits), for evaluations
    /// record by record (per task, generation).
    public let heldOut: [HeldOutRecord]
    /// Instruction data: tasks, tokenizer and end markers, for evaluations per task and by generation.
    public let heldOutContext: HeldOutContext?

    public init(clients: [ClientShard], validation: [TokenID], notices: [String]) {
        self.clients = clients
        self.validation = validation
        self.notices = notices
        self.validationRows = nil
        self.heldOut = []
        self.heldOutContext = nil
    }

    /// A federated corpus of instruction data.
    public init(clients: [ClientShard], validationRows: TokenRows, heldOut: [HeldOutRecord], notices: [String],
                context: HeldOutContext? = nil) {
        self.clients = clients
        self.validation = []
        self.notices = notices
        self.validationRows = validationRows
        self.heldOut = heldOut
        self.heldOutContext = context
    }

    /// The same held-out data with other clients (the pooled baselines' single client).
    public func replacing(clients newClients: [ClientShard]) -> FederatedCorpus {
        guard let validationRows else { return FederatedCorpus(clients: newClients, validation: validation, notices: notices) }
        return FederatedCorpus(clients: newClients, validationRows: validationRows, heldOut: heldOut, notices: notices,
                               context: heldOutContext)
    }

    /// Held-out tokens the evaluation's loss counts: the validation text, or the counted
    /// targets of the validation rows.
    public var validationTokenCount: Int { validationRows?.countedTotal ?? validation.count }
}

/// One document cut into its training head and held-out tail.
struct DocumentSplit {
    let name: String
    let total: Int
    let head: ArraySlice<TokenID>
    let tail: ArraySlice<TokenID>

    /// The tail is `fraction` of the bytes, rounded to nearest, cut at a byte (not a line):
    /// a byte-level model needs no cleaner boundary, and exact sizes keep the split predictable.
    init(_ document: TextDocument, fraction: Double) {
        let count = document.tokens.count
        let held = min(count, Int((Double(count) * fraction).rounded()))
        name = document.name
        total = count
        head = document.tokens[..<(count - held)]
        tail = document.tokens[(count - held)...]
    }
}

extension CorpusLoader {
    /// Holds out `validationFraction` of each document's tail for validation, drops or merges
    /// documents too small for one (sequence + 1) window, then partitions the rest.
    ///
    /// Same as `federate(documents:scheme:clients:validationFraction:sequence:source:)` with no
    /// source, so errors say "the corpus" instead of a path.
    public static func federate(documents: [TextDocument], scheme: PartitionScheme, clients: Int?,
                                validationFraction: Double, sequence: Int) throws -> FederatedCorpus {
        try federate(documents: documents, scheme: scheme, clients: clients,
                     validationFraction: validationFraction, sequence: sequence, source: "")
    }

    /// Splits documents into client shards and one validation text.
    ///
    /// - By file: one client per document, in document order. A document whose training head is
    ///   shorter than one window (sequence + 1 bytes) is skipped, with a notice. Skipping rather
    ///   than merging keeps every client a single natural category; merging tiny ones would make
    ///   an artificial mixed client that the non-IID experiment never asked for. Its tail still
    ///   goes to validation. `clients`, when given, must equal the number of usable documents.
    /// - IID: the training heads concatenated in document order and cut into N contiguous shards
    ///   whose sizes differ by at most one byte. No document is skipped: concatenation makes any
    ///   size usable. `clients`, when given, must equal N.
    ///
    /// - Parameter source: the corpus path, named in error messages.
    public static func federate(documents: [TextDocument], scheme: PartitionScheme, clients: Int?,
                                validationFraction: Double, sequence: Int, source: String) throws -> FederatedCorpus {
        try checkSettings(validationFraction: validationFraction, sequence: sequence, clients: clients)
        let splits = documents.map { DocumentSplit($0, fraction: validationFraction) }
        let window = sequence + 1
        var notices: [String] = []
        let shards: [ClientShard]
        switch scheme {
        case .byFile:
            shards = try byFileShards(splits, requested: clients, window: window, source: source, notices: &notices)
        case .iid(let count):
            if let clients, clients != count {
                throw CorpusError.invalidSetting(name: "data.clients", value: "\(clients)",
                                                 expected: "\(count), the IID partition's client count, or no value")
            }
            shards = try iidShards(splits, count: count, window: window, source: source)
        }
        var validation: [TokenID] = []
        validation.reserveCapacity(splits.reduce(0) { $0 + $1.tail.count })
        for split in splits { validation.append(contentsOf: split.tail) }
        if validationFraction > 0 && validation.count < window {
            notices.append("validation text has \(validation.count) bytes, fewer than one window of \(window) "
                + "(sequence \(sequence) + 1): evaluation will be empty; "
                + "raise data.validation_fraction or shorten train.sequence")
        }
        return FederatedCorpus(clients: shards, validation: validation, notices: notices)
    }

    private static func checkSettings(validationFraction: Double, sequence: Int, clients: Int?) throws {
        guard validationFraction.isFinite, validationFraction >= 0, validationFraction < 1 else {
            throw CorpusError.invalidSetting(name: "data.validation_fraction", value: "\(validationFraction)",
                                             expected: "a fraction in [0, 1), e.g. 0.1")
        }
        guard sequence > 0 else {
            throw CorpusError.invalidSetting(name: "train.sequence", value: "\(sequence)",
                                             expected: "a positive length, e.g. 128")
        }
        if let clients, clients <= 0 {
            throw CorpusError.invalidSetting(name: "data.clients", value: "\(clients)", expected: "a positive count, or no value")
        }
    }

    private static func byFileShards(_ splits: [DocumentSplit], requested: Int?, window: Int, source: String,
                                     notices: inout [String]) throws -> [ClientShard] {
        var usable: [DocumentSplit] = []
        for split in splits {
            if split.head.count >= window {
                usable.append(split)
            } else {
                notices.append("skipped '\(split.name)': \(split.head.count) training bytes (of \(split.total)), "
                    + "too small for one sequence of \(window) bytes; its validation tail is kept "
                    + "(shorten train.sequence or use data.partition = \"iid\" to train on it)")
            }
        }
        let trainingTokens = splits.reduce(0) { $0 + $1.head.count }
        if usable.isEmpty, trainingTokens < window {
            throw CorpusError.tooShort(trainingTokens: trainingTokens, window: window, path: source)
        }
        let wanted = requested ?? max(usable.count, 1)
        if wanted > usable.count {
            throw CorpusError.tooFewDocuments(requested: wanted, available: usable.count, path: source)
        }
        if wanted < usable.count {
            throw CorpusError.clientCountMismatch(requested: wanted, available: usable.count, path: source)
        }
        return usable.enumerated().map { ClientShard(client: $0.offset, name: $0.element.name, tokens: Array($0.element.head)) }
    }

    private static func iidShards(_ splits: [DocumentSplit], count: Int, window: Int, source: String) throws -> [ClientShard] {
        guard count > 0 else {
            throw CorpusError.invalidSetting(name: "data.clients", value: "\(count)",
                                             expected: "a positive count for data.partition = \"iid\"")
        }
        var training: [TokenID] = []
        training.reserveCapacity(splits.reduce(0) { $0 + $1.head.count })
        for split in splits { training.append(contentsOf: split.head) }
        // Floor boundaries: shard i is [i·T/N, (i+1)·T/N), so every byte is used and the smallest
        // shard has ⌊T/N⌋ bytes.
        guard training.count >= window else {
            throw CorpusError.tooShort(trainingTokens: training.count, window: window, path: source)
        }
        guard training.count / count >= window else {
            throw CorpusError.shardsTooSmall(clients: count, trainingTokens: training.count, window: window)
        }
        return (0..<count).map { index in
            let lower = index * training.count / count
            let upper = (index + 1) * training.count / count
            return ClientShard(client: index, name: "iid-\(index)", tokens: Array(training[lower..<upper]))
        }
    }
}
