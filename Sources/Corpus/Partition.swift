/// One client's training data.
public struct ClientShard: Sendable {
    /// The client id, 0..<N in partition order.
    public let client: Int
    /// The document's file name (by file), the label value (by field), or `iid-<id>`, `dirichlet-<id>`.
    public let name: String
    /// The client's training text, or its training records packed into rows.
    public let data: TokenData
    /// How many tokens the client trains on; the aggregation weight (`TokenData.sampleCount`).
    public var sampleCount: Int { data.sampleCount }

    public init(client: Int, name: String, data: TokenData) {
        self.client = client
        self.name = name
        self.data = data
    }
}

/// The federated view of a corpus: client shards plus the held-out data.
public struct FederatedCorpus: Sendable {
    public let clients: [ClientShard]
    /// What the evaluation's loss reads. Plain text: the tails of every document, in document
    /// order; they do not depend on the partition scheme or the sequence length, so eval losses
    /// of by-file and IID runs are comparable. Instruction data: the validation records packed
    /// into rows.
    public let validation: TokenData
    /// Instruction data: every held-out record (validation and test splits), for evaluations
    /// record by record (per task, generation); empty for plain text.
    public let heldOut: [HeldOutRecord]
    /// Instruction data: tasks, tokenizer and end markers, for evaluations per task and by generation.
    public let heldOutContext: HeldOutContext?
    /// What was merged or skipped, for the user (e.g. "skipped 'goedel': 812 bytes, too small for one sequence").
    public let notices: [String]

    public init(clients: [ClientShard], validation: TokenData, heldOut: [HeldOutRecord] = [],
                context: HeldOutContext? = nil, notices: [String]) {
        self.clients = clients
        self.validation = validation
        self.heldOut = heldOut
        self.heldOutContext = context
        self.notices = notices
    }

    /// The same held-out data with other clients (the pooled baselines' single client).
    public func replacing(clients newClients: [ClientShard]) -> FederatedCorpus {
        FederatedCorpus(clients: newClients, validation: validation, heldOut: heldOut, context: heldOutContext, notices: notices)
    }

    /// Held-out tokens the evaluation's loss counts: the validation text, or the counted
    /// targets of the validation rows.
    public var validationTokenCount: Int { validation.countedTokens }
}

/// A federated corpus with what partition.h5 records of its split: each client's label (corpus
/// file, or record field value) mix, and the bad records left out of instruction data.
public struct PartitionedCorpus: Sendable {
    public let corpus: FederatedCorpus
    /// The labels: document names in document order, or the distinct field values in UTF-8
    /// order (empty when records carry none).
    public let labels: [String]
    /// [client][label]: training tokens (counted ones, for instruction data) of each label each
    /// client holds; nil when not traced (an IID split of text, records without labels).
    public let labelTokens: [[Int]]?
    /// Bad records left out under `data.bad_records = "skip"`.
    public let skipped: [BadRecord]

    public init(corpus: FederatedCorpus, labels: [String], labelTokens: [[Int]]?, skipped: [BadRecord] = []) {
        self.corpus = corpus; self.labels = labels; self.labelTokens = labelTokens; self.skipped = skipped
    }
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

    /// The tails of `splits` joined in order: the validation text of every text partition.
    static func heldOutText(_ splits: [DocumentSplit]) -> [TokenID] {
        var text: [TokenID] = []
        text.reserveCapacity(splits.reduce(0) { $0 + $1.tail.count })
        for split in splits { text.append(contentsOf: split.tail) }
        return text
    }
}

extension CorpusLoader {
    /// Holds out `validationFraction` of each document's tail for validation (the same tails
    /// for every scheme), then splits the training heads across clients by `scheme`.
    ///
    /// - By file: one client per document, in document order, each one label (its file). A
    ///   document whose training head is shorter than one window (sequence + 1 bytes) is skipped,
    ///   with a notice. Skipping rather than merging keeps every client a single natural category;
    ///   merging tiny ones would make an artificial mixed client that the non-IID experiment never
    ///   asked for. Its tail still goes to validation. `clients`, when given, must equal the
    ///   number of usable documents.
    /// - IID: the training heads concatenated in document order and cut into N contiguous shards
    ///   whose sizes differ by at most one byte. No document is skipped: concatenation makes any
    ///   size usable. Which file a client's bytes came from is not traced.
    /// - Dirichlet: `DirichletPartition`, drawn from `seed` (which no other scheme uses).
    ///
    /// - Parameter source: the corpus path, named in error messages ("the corpus" when empty).
    public static func federate(documents: [TextDocument], scheme: PartitionScheme, seed: UInt64,
                                validationFraction: Double, sequence: Int, source: String = "") throws -> PartitionedCorpus {
        let names = documents.map(\.name)
        switch scheme {
        case .byFile(let clients):
            let corpus = try splitText(documents, clients: clients, validationFraction: validationFraction,
                                       sequence: sequence) { splits, window, notices in
                try byFileShards(splits, requested: clients, window: window, source: source, notices: &notices)
            }
            let mix = corpus.clients.map { shard in names.map { $0 == shard.name ? shard.sampleCount : 0 } }
            return PartitionedCorpus(corpus: corpus, labels: names, labelTokens: mix)
        case .iid(let clients):
            let corpus = try splitText(documents, clients: nil, validationFraction: validationFraction,
                                       sequence: sequence) { splits, window, _ in
                try iidShards(splits, count: clients, window: window, source: source)
            }
            return PartitionedCorpus(corpus: corpus, labels: names, labelTokens: nil)
        case let .dirichlet(clients, alpha):
            let split = try DirichletPartition(documents: documents, clients: clients, alpha: alpha, seed: seed,
                                               validationFraction: validationFraction, sequence: sequence)
            return PartitionedCorpus(corpus: split.corpus, labels: split.labels, labelTokens: split.labelTokens)
        case .byField:
            throw CorpusError.invalidSetting(name: "data.partition", value: "\"by-field\"",
                                             expected: "\"by-file\", \"iid\" or \"dirichlet\" for plain text "
                                                 + "(\"by-field\" splits JSONL records, data.format = \"jsonl\")")
        }
    }

    /// Checks the settings, cuts every document into head and tail, makes the clients with
    /// `shards` and joins the tails into the validation text.
    private static func splitText(_ documents: [TextDocument], clients: Int?, validationFraction: Double, sequence: Int,
                                  shards: ([DocumentSplit], Int, inout [String]) throws -> [ClientShard]) throws -> FederatedCorpus {
        try checkSettings(validationFraction: validationFraction, sequence: sequence, clients: clients)
        let splits = documents.map { DocumentSplit($0, fraction: validationFraction) }
        let window = sequence + 1
        var notices: [String] = []
        let clients = try shards(splits, window, &notices)
        let validation = DocumentSplit.heldOutText(splits)
        if validationFraction > 0 && validation.count < window {
            notices.append("validation text has \(validation.count) bytes, fewer than one window of \(window) "
                + "(sequence \(sequence) + 1): evaluation will be empty; "
                + "raise data.validation_fraction or shorten train.sequence")
        }
        return FederatedCorpus(clients: clients, validation: .text(validation), notices: notices)
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
        return usable.enumerated().map { ClientShard(client: $0.offset, name: $0.element.name, data: .text(Array($0.element.head))) }
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
            return ClientShard(client: index, name: "iid-\(index)", data: .text(Array(training[lower..<upper])))
        }
    }
}
