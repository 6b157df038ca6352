import Foundation
import TOMLKit

/// A job file: everything a run needs, read from TOML, with every key checked.
///
/// Layout (see `jobs/demo.toml` and `docs/JOBS.md`): top-level `name`, `output`, `seed`,
/// and the tables `[model]`, `[data]` and `[train]`. A key this program does not know is an
/// error that names it, so a typo never silently falls back to a default.
public struct JobFile: Equatable, Sendable {
    public var name: String
    /// Folder that holds run folders; the run goes to `<output>/<name>`.
    public var output: String
    public var seed: UInt64

    public var layers: Int
    public var width: Int
    public var heads: Int
    /// Position-table length; defaults to the training sequence length.
    public var context: Int?

    public var corpus: String
    /// "by-file", "iid" or "dirichlet"; for instruction data "by-field", "iid" or "dirichlet".
    public var partition: String
    /// For "iid": how many shards. For "by-file": if set, must equal the number of usable files.
    public var clients: Int?
    public var validationFraction: Double

    public var rounds: Int?
    public var cycles: Int?
    public var clientsPerRound: Int
    public var localSteps: Int
    public var batch: Int
    public var sequence: Int
    public var learningRate: Double
    public var weightDecay: Double
    public var beta1: Double
    public var beta2: Double
    public var evalBatches: Int
    public var checkpointEvery: Int
    /// OpenBLAS threads per rank; 0 picks from the cores and ranks on this node.
    public var threads: Int

    /// The text the job was read from, stored in the run file.
    public var text: String
    /// Where it was read from, for messages.
    public var path: String

    /// `model.init`: a Hugging Face GPT-2 folder or a safetensors file to start from (docs/MODELS.md).
    public var initModel: String? = nil
    /// `data.tokenizer`: "byte", "bpe" (GPT-2's vocab.json and merges.txt) or "hf" (a tokenizer.json).
    public var tokenizer: String = "byte"
    /// Whether the file set `data.tokenizer` (or `data.tokenizer_json`); when not, a `model.init`
    /// folder with a tokenizer.json chooses "hf".
    public var tokenizerSet = false
    /// `data.tokenizer_json`: the tokenizer.json, when not taken from the `model.init` folder.
    public var tokenizerJSON: String? = nil
    /// `data.vocab` and `data.merges`: the BPE files, when not taken from the `model.init` folder.
    public var vocab: String? = nil
    public var merges: String? = nil
    /// Which of the `[model]` shape keys the file set, so a `model.init` folder can refuse conflicts.
    public var modelKeysSet: Set<String> = []
    /// `train.keep_checkpoints`: how many complete checkpoints to keep.
    public var keepCheckpoints: Int = 3
    /// `train.snapshots`: store each block's weights after every visit in history.h5.
    public var snapshots: Bool = false
    /// `train.embedding_shards`: the embeddings are trained as this many units of vocabulary rows.
    public var embeddingShards = 1
    /// Round options (docs/OPTIONS.md): `train.blocks`, `train.block_order`, `train.client_selection`,
    /// `train.local_epochs`, `train.lr_schedule`, `train.warmup_rounds`, `train.lr_floor`.
    public var blocks = "all"
    public var blockOrder = "ascending"
    public var clientSelection = "cyclic"
    public var localEpochs: Double? = nil
    public var lrSchedule = "constant"
    public var warmupRounds = 0
    public var lrFloor = 0.1
    /// `[server]`: the update-norm guard (`update_norm_multiple`, `update_norm_max`, `update_norm_warmup`, `update_norm_window`).
    public var updateNormMultiple: Double? = nil
    public var updateNormMax: Double? = nil
    public var updateNormWarmup = 3
    public var updateNormWindow = 32
    /// `server.round_timeout`: seconds rank 0 waits for any one rank before it ends the job (nil: the default).
    public var roundTimeout: Double? = nil
    /// What `server.round_timeout` is when unset: long enough for any round a user runs.
    public static let defaultRoundTimeout = 1800.0
    /// `data.dirichlet_alpha`: concentration of the Dirichlet label mix per client.
    public var dirichletAlpha = 0.5
    /// The algorithm and what travels: `train.algorithm`, `[download]`, `[upload]`, `[lora]` (docs/METHODS.md).
    public var methods = MethodKeys()
    /// `model.architecture` and the Llama shape keys.
    public var architecture = ArchitectureKeys()
    /// `data.categories` / `data.exclude_categories`: which files of a folder corpus to use (JobFile+Categories).
    public var categories: [String]? = nil
    public var excludeCategories: [String]? = nil
    /// `data.format` and the instruction-data keys (JobFile+Instruction).
    public var instruction = InstructionKeys()
}

/// A job file the program cannot use; the message names the file, the key and the fix.
public struct JobFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ path: String, _ message: String) { description = "\(path): \(message)" }
}

extension JobFile {
    static let knownKeys: [String: Set<String>] = [
        "": ["name", "output", "seed", "model", "data", "train", "server", "download", "upload", "lora"],
        "download": ["codec", "drop_fraction", "drop_rule"],
        "upload": ["codec"],
        "lora": ["rank", "alpha"],
        "server": ["update_norm_multiple", "update_norm_max", "update_norm_warmup", "update_norm_window", "round_timeout"],
        "model": ["layers", "width", "heads", "context", "init", "architecture", "vocab", "kv_heads", "intermediate", "tie_embeddings", "rope_theta"],
        "data": ["corpus", "partition", "clients", "validation_fraction", "tokenizer", "tokenizer_json", "vocab", "merges",
                 "dirichlet_alpha",
                 "categories", "exclude_categories",
                 "format", "template", "chat_template", "partition_field", "bad_records", "test_fraction", "pack"],
        "train": ["rounds", "cycles", "clients_per_round", "local_steps", "batch", "sequence", "learning_rate",
                  "weight_decay", "beta1", "beta2", "eval_batches", "checkpoint_every", "threads",
                  "keep_checkpoints", "snapshots", "embedding_shards", "blocks", "block_order", "client_selection", "local_epochs",
                  "lr_schedule", "warmup_rounds", "lr_floor", "algorithm", "clients_per_block",
                  "eval_prompts", "eval_max_new_tokens", "test_prompts"],
    ]

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
        let reader = TableReader(path: path, root: root)
        try reader.checkKeys()
        var job = try reader.read(text: text)
        try job.validate()
        return job
    }

    /// Checks values that parse but cannot work.
    mutating func validate() throws {
        func require(_ ok: Bool, _ key: String, _ why: String) throws {
            if !ok { throw JobFileError(path, "'\(key)' \(why)") }
        }
        try require(!name.isEmpty && !name.contains("/"), "name", "must be a non-empty name without '/'")
        try require(layers >= 1, "model.layers", "must be at least 1")
        try require(width >= 1 && heads >= 1 && width % heads == 0, "model.width", "must be a positive multiple of model.heads")
        try require(instruction.isJSONL || ["by-file", "iid", "dirichlet"].contains(partition), "data.partition",
                    partition == "by-field" ? "\"by-field\" needs data.format = \"jsonl\"; plain text is split \"by-file\", \"iid\" or \"dirichlet\""
                                            : "must be \"by-file\", \"iid\" or \"dirichlet\", not \"\(partition)\"")
        try instruction.validate(path: path, partition: partition, categoriesSet: categories != nil || excludeCategories != nil)
        try require(partition == "by-file" || partition == "by-field" || (clients ?? 0) >= 1, "data.clients", "must be set (at least 1) when data.partition = \"\(partition)\"")
        try require(dirichletAlpha > 0 && dirichletAlpha.isFinite, "data.dirichlet_alpha", "must be a positive number (small: few categories per client; large: near-IID)")
        try require(validationFraction > 0 && validationFraction < 1, "data.validation_fraction", "must be between 0 and 1")
        try require(!(rounds != nil && cycles != nil), "train.rounds", "and train.cycles are both set; set one of them")
        try require(rounds != nil || cycles != nil, "train.rounds", "or train.cycles must be set")
        try require((rounds ?? 1) >= 1 && (cycles ?? 1) >= 1, "train.rounds", "and train.cycles must be at least 1")
        try require(clientsPerRound >= 1, "train.clients_per_round", "must be at least 1")
        try require(localSteps >= 1, "train.local_steps", "must be at least 1")
        try require(batch >= 1 && sequence >= 2, "train.batch", "must be at least 1 and train.sequence at least 2")
        try require((context ?? sequence) >= sequence, "model.context", "must be at least train.sequence")
        try require(learningRate > 0 && learningRate.isFinite, "train.learning_rate", "must be a positive number")
        try require(evalBatches >= 1, "train.eval_batches", "must be at least 1")
        try require(checkpointEvery >= 0 && threads >= 0, "train.checkpoint_every", "and train.threads must not be negative")
        try require(keepCheckpoints >= 1, "train.keep_checkpoints", "must be at least 1")
        try require(embeddingShards >= 1, "train.embedding_shards", "must be at least 1 (1: the embeddings are one block)")
        try require(embeddingShards == 1 || ["fedcybgd", "badam"].contains(methods.algorithm), "train.embedding_shards",
                    "applies to the block-cyclic algorithms (fedcybgd, badam); set it to 1 for \(methods.algorithm)")
        try validateModelSource()
        try methods.validate(path: path)
        try architecture.validate(path: path, width: width, heads: heads)
        try validateCategories()
    }

    /// Total rounds: `rounds` if given, else `cycles` times the visits per cycle (each embedding shard one).
    public var totalRounds: Int { rounds ?? (cycles ?? 1) * (blocks == "layers" ? layers : layers + 1 + embeddingShards) }
}

/// Walks the TOML tables, taking each known key with its type and refusing unknown ones.
struct TableReader {
    let path: String
    let root: TOMLTable

    func table(_ name: String) -> TOMLTable? { name.isEmpty ? root : root[name]?.table }

    func checkKeys() throws {
        for (section, known) in JobFile.knownKeys {
            guard let table = table(section) else { continue }
            for key in table.keys.sorted() where !known.contains(key) {
                let full = section.isEmpty ? key : "\(section).\(key)"
                let hint = section.isEmpty ? "top-level keys" : "keys in [\(section)]"
                throw JobFileError(path, "unknown key '\(full)'; \(hint) are: \(known.sorted().joined(separator: ", "))")
            }
        }
        for section in ["model", "data", "train", "server", "download", "upload", "lora"] where root[section] != nil && root[section]?.table == nil {
            throw JobFileError(path, "'\(section)' must be a table ([\(section)])")
        }
    }

    func value(_ section: String, _ key: String) -> TOMLValueConvertible? { table(section)?[key] }
    private func name(_ section: String, _ key: String) -> String { section.isEmpty ? key : "\(section).\(key)" }

    func int(_ section: String, _ key: String) throws -> Int? {
        guard let raw = value(section, key) else { return nil }
        guard let number = raw.int else { throw JobFileError(path, "'\(name(section, key))' must be a whole number") }
        return number
    }

    /// The round options and the server's update-norm guard (docs/OPTIONS.md).
    func readRoundOptions(into job: inout JobFile) throws {
        job.blocks = try string("train", "blocks") ?? "all"
        job.blockOrder = try string("train", "block_order") ?? "ascending"
        job.clientSelection = try string("train", "client_selection") ?? "cyclic"
        job.localEpochs = try double("train", "local_epochs")
        if job.localEpochs != nil, value("train", "local_steps") != nil {
            throw JobFileError(path, "'train.local_steps' and 'train.local_epochs' are both set; set one of them")
        }
        job.dirichletAlpha = try double("data", "dirichlet_alpha") ?? 0.5
        job.lrSchedule = try string("train", "lr_schedule") ?? "constant"
        job.warmupRounds = try int("train", "warmup_rounds") ?? 0
        job.lrFloor = try double("train", "lr_floor") ?? 0.1
        job.updateNormMultiple = try double("server", "update_norm_multiple")
        job.updateNormMax = try double("server", "update_norm_max")
        job.updateNormWarmup = try int("server", "update_norm_warmup") ?? 3
        job.updateNormWindow = try int("server", "update_norm_window") ?? 32
        job.roundTimeout = try double("server", "round_timeout")
        if let timeout = job.roundTimeout, !(timeout > 0) {
            throw JobFileError(path, "'server.round_timeout' must be a positive number of seconds (default \(Int(JobFile.defaultRoundTimeout)))")
        }
    }

    func bool(_ section: String, _ key: String) throws -> Bool? {
        guard let raw = value(section, key) else { return nil }
        guard let flag = raw.bool else { throw JobFileError(path, "'\(name(section, key))' must be true or false") }
        return flag
    }

    func double(_ section: String, _ key: String) throws -> Double? {
        guard let raw = value(section, key) else { return nil }
        if let number = raw.double { return number }
        if let number = raw.int { return Double(number) }
        throw JobFileError(path, "'\(name(section, key))' must be a number")
    }

    func strings(_ section: String, _ key: String) throws -> [String]? {
        guard let raw = value(section, key) else { return nil }
        guard let array = raw.array, let texts = Optional(array.compactMap { $0.string }), texts.count == array.count else {
            throw JobFileError(path, "'\(name(section, key))' must be a list of strings, e.g. [\"art\", \"computers\"]")
        }
        return texts
    }

    func string(_ section: String, _ key: String) throws -> String? {
        guard let raw = value(section, key) else { return nil }
        guard let text = raw.string else { throw JobFileError(path, "'\(name(section, key))' must be a string") }
        return text
    }

    func read(text: String) throws -> JobFile {
        let seed = try int("", "seed") ?? 1234
        guard seed >= 0 else { throw JobFileError(path, "'seed' must not be negative") }
        guard let corpus = try string("data", "corpus") else {
            throw JobFileError(path, "missing 'data.corpus'; set it to a text file or a folder of text files")
        }
        var job = JobFile(
            name: try string("", "name") ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
            output: try string("", "output") ?? "runs", seed: UInt64(seed),
            layers: try int("model", "layers") ?? 4, width: try int("model", "width") ?? 128,
            heads: try int("model", "heads") ?? 4, context: try int("model", "context"),
            corpus: corpus, partition: try string("data", "partition") ?? "by-file",
            clients: try int("data", "clients"),
            validationFraction: try double("data", "validation_fraction") ?? 0.1,
            rounds: try int("train", "rounds"), cycles: try int("train", "cycles"),
            clientsPerRound: try int("train", "clients_per_round") ?? 1,
            localSteps: try int("train", "local_steps") ?? 10, batch: try int("train", "batch") ?? 8,
            sequence: try int("train", "sequence") ?? 128,
            learningRate: try double("train", "learning_rate") ?? 1e-3,
            weightDecay: try double("train", "weight_decay") ?? 0.1,
            beta1: try double("train", "beta1") ?? 0.9, beta2: try double("train", "beta2") ?? 0.95,
            evalBatches: try int("train", "eval_batches") ?? 16,
            checkpointEvery: try int("train", "checkpoint_every") ?? 0,
            threads: try int("train", "threads") ?? 0, text: text, path: path)
        job.initModel = try string("model", "init")
        job.tokenizerJSON = try string("data", "tokenizer_json")
        let tokenizer = try string("data", "tokenizer")
        job.tokenizer = tokenizer ?? (job.tokenizerJSON != nil ? "hf" : "byte")
        job.tokenizerSet = tokenizer != nil || job.tokenizerJSON != nil
        job.vocab = try string("data", "vocab")
        job.merges = try string("data", "merges")
        job.modelKeysSet = Set(["layers", "width", "heads", "context"].filter { value("model", $0) != nil })
        job.keepCheckpoints = try int("train", "keep_checkpoints") ?? 3
        job.snapshots = try bool("train", "snapshots") ?? false
        job.embeddingShards = try int("train", "embedding_shards") ?? 1
        job.categories = try strings("data", "categories")
        job.excludeCategories = try strings("data", "exclude_categories")
        try readRoundOptions(into: &job)
        try readMethods(into: &job)
        try readArchitecture(into: &job)
        try readInstruction(into: &job)
        return job
    }
}
