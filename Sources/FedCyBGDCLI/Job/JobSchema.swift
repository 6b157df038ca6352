import Corpus
import Federation
import GPT

/// Every job key, declared once (docs/JOBS.md's key table is made from this list).
///
/// A job reads a key as `job.<property>` (`JobFile` looks the property up here), so a new key is
/// one declaration below plus the code that uses it. Declaration order is the order of the docs
/// table, and the sections' order is the effective TOML's.
public struct JobSchema: Sendable {
    public static let shared = JobSchema()

    // MARK: top level
    let name = JobKey("name", "", default: "the file's name", doc: "run name; the run folder is `<output>/<name>`")
    let output = JobKey("output", "runs", mayChangeOnResume: true, doc: "folder that holds run folders")
    let seed = JobKey("seed", UInt64(1234), doc: "every random draw comes from (seed, purpose, round, client)")

    // MARK: [model]
    let layers = JobKey("model.layers", 4, range: .atLeast(1), doc: "transformer layers (blocks: embeddings, each layer, final norm)")
    let width = JobKey("model.width", 128, range: .atLeast(1), doc: "embedding width; a multiple of `model.heads`")
    let heads = JobKey("model.heads", 4, range: .atLeast(1), doc: "attention heads")
    let context: JobKey<Int?> = JobKey("model.context", Int?.none, default: "`train.sequence`", range: .atLeast(1),
                         record: .computed { .int($0.context ?? $0.sequence) },
                         doc: "the longest sequence (GPT-2 n_positions, Llama max_position_embeddings)")
    let architecture = JobKey("model.architecture", Architecture?.none, default: "`\"gpt2\"` (a `model.init` folder's `model_type`)",
                              doc: "`\"gpt2\"` or `\"llama\"` (docs/MODELS.md)")
    let vocab = JobKey("model.vocab", Int?.none, default: "the tokenizer's size", range: .atLeast(1),
                       doc: "vocabulary of a fresh model; at least the tokenizer's (extra ids stay unused)")
    let kvHeads = JobKey("model.kv_heads", Int?.none, default: "`model.heads`", range: .atLeast(1),
                         doc: "Llama: key/value heads (grouped-query attention); divides `model.heads`")
    let intermediate = JobKey("model.intermediate", Int?.none, default: "8/3 × `model.width`, rounded up to a multiple of 8",
                              range: .atLeast(1), doc: "Llama: the gated MLP's width")
    let tieEmbeddings = JobKey("model.tie_embeddings", Bool?.none, default: "`false`", doc: "Llama: the output head is the token embedding")
    let ropeTheta = JobKey("model.rope_theta", Double?.none, default: "10000", range: .positive, doc: "Llama: the rotary embedding's base")
    let initModel = JobKey("model.init", String?.none, doc: "start from a pretrained model: a Hugging Face GPT-2 or Llama folder (its `config.json` sets the shape; a `model.*` key that contradicts it is an error), a `.safetensors` file of the job's shape, or a fedcybgd checkpoint file or run folder (its newest complete checkpoint; the checkpoint sets the shape) (docs/MODELS.md)")

    // MARK: [data]
    let corpus = JobKey("data.corpus", "", default: "required", doc: "a text file, or a folder of text files (binary files and links to files already read are skipped); with `data.format = \"jsonl\"`, one JSONL file")
    let format = JobKey("data.format", DataFormat.text, record: .unlessDefault, doc: "`\"text\"`: plain text files; `\"jsonl\"`: instruction records, one JSON object per line (docs/DATA.md); the keys below up to `data.pack` apply to `\"jsonl\"` only")
    let template: JobKey<String> = JobKey("data.template", "alpaca", record: .when(\.isInstructionData),
                          doc: "the prompt template of Alpaca-style records (`instruction`, `input`, `output`)")
    let chatTemplate: JobKey<String> = JobKey("data.chat_template", "chatml", record: .when(\.isInstructionData),
                              doc: "the template of chat records (`messages`): `\"chatml\"` or `\"zephyr\"`")
    let partitionField: JobKey<String> = JobKey("data.partition_field", "task", record: .when(\.isInstructionData), doc: "the record field whose value labels a record: one client per value with `data.partition = \"by-field\"`, the labels of `\"dirichlet\"`")
    let testFraction: JobKey<Double> = JobKey("data.test_fraction", 0.1, range: .belowOne, record: .when(\.isInstructionData), doc: "each client's records held out as the test split (never trained or evaluated on during the run; stored in `partition.h5`)")
    let badRecords: JobKey<BadRecordPolicy> = JobKey("data.bad_records", BadRecordPolicy.stop, record: .when(\.isInstructionData), doc: "`\"stop\"`: a bad record ends the run before anything is written, naming `file:line` and the reason; `\"skip\"`: bad records are left out, counted, printed and listed in `partition.h5`")
    let pack: JobKey<Bool> = JobKey("data.pack", true, record: .when(\.isInstructionData),
                      doc: "pack short records whole into shared rows (first fit); false: one record per padded row")
    let categories = JobKey("data.categories", [String]?.none, default: "all files", doc: "use only these files of a folder corpus, e.g. `[\"art\", \"computers\"]`; applied before any partition, so clients and the held-out tails come from these files only")
    let excludeCategories = JobKey("data.exclude_categories", [String]?.none, doc: "use every file but these; set at most one of the two keys. A name that is not a usable file of the corpus is an error listing the names there are")
    let partition = JobKey("data.partition", PartitionScheme.Kind.byFile, default: "`\"by-file\"` (`\"by-field\"` for jsonl)", doc: "`\"by-file\"`: one client per file (natural non-IID); `\"iid\"`: `data.clients` equal contiguous shards; `\"dirichlet\"`: Dirichlet(α) label mixes over `data.clients` clients, recorded in `partition.h5`; for jsonl `\"by-field\"` (one client per value of `data.partition_field`), `\"iid\"` or `\"dirichlet\"`")
    let clients = JobKey("data.clients", Int?.none, range: .atLeast(1),
                         doc: "for `iid` and `dirichlet`, the number of clients; for `by-file`, if set, it must equal the number of usable files")
    let dirichletAlpha: JobKey<Double> = JobKey("data.dirichlet_alpha", 0.5, range: .positive, record: .when { $0.partition == .dirichlet },
                                doc: "`data.partition = \"dirichlet\"`: the concentration α (small: few categories per client; large: near-IID)")
    let validationFraction = JobKey("data.validation_fraction", 0.1, range: .strictlyBetweenZeroAndOne, doc: "the tail of every file held out for evaluation; for jsonl, each client's records held out as the validation split (the eval loss)")
    let tokenizer = JobKey("data.tokenizer", TokenizerKind.byte, default: "`\"byte\"` (`\"hf\"` when `model.init` is a folder with `tokenizer.json`)", record: .unlessDefault, doc: "`\"byte\"`: one token per byte (vocab 256); `\"bpe\"`: GPT-2's byte-level BPE from `vocab.json` and `merges.txt`; `\"hf\"`: a Hugging Face `tokenizer.json` (docs/MODELS.md)")
    let tokenizerJSON = JobKey("data.tokenizer_json", String?.none, default: "the `model.init` folder's",
                               doc: "the `tokenizer.json` for `\"hf\"` (setting it implies `\"hf\"`)")
    let bpeVocab = JobKey("data.vocab", String?.none, default: "the `model.init` folder's",
                          doc: "GPT-2's `vocab.json`, for `\"bpe\"` without a `model.init` folder (or to override its file)")
    let bpeMerges = JobKey("data.merges", String?.none, default: "the `model.init` folder's",
                           doc: "GPT-2's `merges.txt`; set with `data.vocab`")

    // MARK: [train]
    let rounds: JobKey<Int?> = JobKey("train.rounds", Int?.none, range: .atLeast(1), mayChangeOnResume: true,
                        record: .computed { .int($0.totalRounds) },
                        doc: "total rounds (one visit of the cycle each, k clients per round); set this or `train.cycles`")
    let cycles = JobKey("train.cycles", Int?.none, range: .atLeast(1), record: .never,
                        doc: "total cycles; rounds = cycles × the visits per cycle (layers + 1 + `train.embedding_shards`, or layers with `train.blocks = \"layers\"`)")
    let clientsPerRound = JobKey("train.clients_per_round", 1, range: .atLeast(1),
                                 doc: "k, aggregated by sample-weighted mean (`train.clients_per_block` is the same key under the paper's name; set one)")
    let clientsPerBlock = JobKey("train.clients_per_block", Int?.none, default: "—", range: .atLeast(1), record: .never,
                                 doc: "the same key as `train.clients_per_round`")
    let localSteps: JobKey<Int> = JobKey("train.local_steps", 10, range: .atLeast(1), record: .when { $0.localEpochs == nil },
                            doc: "E, local AdamW steps per visit, fresh optimizer state each visit")
    let localEpochs = JobKey("train.local_epochs", Double?.none, range: .positive,
                             doc: "instead of `local_steps`: a token budget per visit in epochs of the client's data")
    let batch = JobKey("train.batch", 8, range: .atLeast(1), doc: "sequences per step")
    let sequence = JobKey("train.sequence", 128, range: .atLeast(2), doc: "tokens per sequence")
    let learningRate = JobKey("train.learning_rate", 1e-3, range: .positive, doc: "AdamW's base learning rate")
    let weightDecay = JobKey("train.weight_decay", 0.1, range: .nonNegative, doc: "decoupled weight decay, on every parameter")
    let beta1 = JobKey("train.beta1", 0.9, range: .belowOne, doc: "AdamW's first-moment decay")
    let beta2 = JobKey("train.beta2", 0.95, range: .belowOne, doc: "AdamW's second-moment decay")
    let evalBatches = JobKey("train.eval_batches", 16, range: .atLeast(1), doc: "held-out batches per evaluation")
    let evalPrompts: JobKey<Int> = JobKey("train.eval_prompts", FederationSettings.Defaults.evalPrompts, range: .atLeast(0), record: .when(\.isInstructionData), doc: "jsonl only: validation prompts answered greedily at each evaluation, chosen once, spread over the tasks (docs/DATA.md, \"Evaluation\"); 0: no answers")
    let evalMaxNewTokens: JobKey<Int> = JobKey("train.eval_max_new_tokens", FederationSettings.Defaults.evalMaxNewTokens, range: .atLeast(1), record: .when(\.isInstructionData), doc: "jsonl only: the most ids a greedy answer may have (it stops earlier at the end-of-sequence id or the chat template's end marker)")
    let testPrompts: JobKey<Int> = JobKey("train.test_prompts", FederationSettings.Defaults.testPrompts, range: .atLeast(0), record: .when(\.isInstructionData),
                             doc: "jsonl only: test prompts answered once by the final model when the run finishes; 0: the test split's loss only")
    let checkpointEvery = JobKey("train.checkpoint_every", 0, range: .atLeast(0), mayChangeOnResume: true,
                                 doc: "write a checkpoint every N rounds (0: only at the end)")
    let threads = JobKey("train.threads", 0, range: .atLeast(0), mayChangeOnResume: true,
                         doc: "OpenBLAS threads per rank; 0 = cores ÷ ranks computing at once")
    let keepCheckpoints = JobKey("train.keep_checkpoints", 3, range: .atLeast(1), mayChangeOnResume: true,
                                 doc: "how many complete checkpoints to keep (older ones are deleted after a new one is in place)")
    let snapshots = JobKey("train.snapshots", false, doc: "store each block's weights after every visit in `history.h5` (`/blocks/<b>/snapshots`)")
    let blocks = JobKey("train.blocks", BlockSet.all, doc: "`\"all\"` or `\"layers\"` (transformer layers only) — see docs/OPTIONS.md for this and the next keys")
    let blockOrder = JobKey("train.block_order", BlockOrder.ascending,
                            doc: "`\"ascending\"`, `\"descending\"`, `\"random\"` (a fresh permutation each cycle)")
    let embeddingShards = JobKey("train.embedding_shards", 1, range: .atLeast(1), record: .unlessDefault, doc: "S: train the embeddings (block 0) as S units of vocabulary rows, each its own round of the cycle, so a client holds the gradient and AdamW moments of 1/S of the embedding (fedcybgd and badam; at most ⌈V/16⌉) — docs/OPTIONS.md")
    let clientSelection = JobKey("train.client_selection", ClientSelection.cyclic,
                                 doc: "`\"cyclic\"` or `\"random\"` (without replacement within a round)")
    let lrSchedule = JobKey("train.lr_schedule", LearningRateSchedule.Decay.constant,
                            doc: "learning rate across rounds: `\"constant\"` or `\"cosine\"`, after the warm-up")
    let warmupRounds = JobKey("train.warmup_rounds", 0, range: .atLeast(0), doc: "rounds of linear warm-up of the learning rate")
    let lrFloor = JobKey("train.lr_floor", LearningRateSchedule.defaultFloor, range: .zeroToOne, doc: "cosine's last rate, as a fraction of `train.learning_rate`")
    let algorithm = JobKey("train.algorithm", Algorithm.fedcybgd, record: .unlessDefault,
                           doc: "`\"fedcybgd\"`, `\"fedavg\"`, `\"fedlora\"`, `\"centralized\"` or `\"badam\"` — docs/METHODS.md")

    // MARK: [server]
    let updateNormMultiple = JobKey("server.update_norm_multiple", Double?.none, default: "10",
                                    range: JobRange("0 (off) or at least 1") { $0 == 0 || ($0.isFinite && $0 >= 1) },
                                    doc: "refuse uploads whose update RMS exceeds this multiple of the running median (0: off)")
    let updateNormMax = JobKey("server.update_norm_max", Double?.none, range: .positive,
                               doc: "instead: refuse uploads whose update RMS exceeds this absolute bound")
    let updateNormWarmup = JobKey("server.update_norm_warmup", UpdateNormGuard.Configuration.default.warmup, range: .atLeast(1), doc: "accepted updates before the median bound applies")
    let updateNormWindow = JobKey("server.update_norm_window", UpdateNormGuard.Configuration.default.window, range: .atLeast(1), doc: "how many recent norms the median uses")
    let roundTimeout = JobKey("server.round_timeout", Double?.none, default: "1800", range: .positive, mayChangeOnResume: true, doc: "seconds rank 0 waits for any one rank (its upload, its report, its taking the broadcast) before it ends the job with one line naming the rank and its host, exit status 69; the newest checkpoint stays intact. Set it above your longest round (one client's local training plus its upload)")

    // MARK: [download], [upload], [lora]
    let downloadCodec = JobKey("download.codec", BlockEncoding.fp32, record: .unlessDefault, doc: "how frozen blocks travel: `\"fp32\"`, `\"fp16\"`, `\"bf16\"`, `\"int8\"`, `\"prune:D\"`; the trained block is always exact fp32")
    let dropFraction = JobKey("download.drop_fraction", 0.0, range: .belowOne, record: .unlessDefault,
                              doc: "layer dropping (fedcybgd, badam): skip this fraction of the frozen layers")
    let dropRule: JobKey<LayerDrop.Rule> = JobKey("download.drop_rule", LayerDrop.Rule.alternate, record: .when { $0.dropFraction != 0 },
                          doc: "which frozen layers are skipped: evenly spaced (`\"alternate\"`) or the `\"far\"`thest from the active block")
    let uploadCodec = JobKey("upload.codec", BlockEncoding.fp32,
                             range: JobRange("one of \"fp32\", \"fp16\" or \"int8\"") { BlockEncoding.uploadKinds.contains($0.kind) },
                             record: .unlessDefault, doc: "`\"fp32\"` (the trained values), `\"fp16\"` or `\"int8\"` (their change)")
    let loraRank: JobKey<Int> = JobKey("lora.rank", FederationSettings.Defaults.lora.rank, range: .atLeast(1), record: .when { $0.algorithm == .fedlora },
                          doc: "fedlora's adapter rank: ΔW = (alpha/rank)·A·B on every layer's matrices")
    let loraAlpha: JobKey<Double> = JobKey("lora.alpha", Double(FederationSettings.Defaults.lora.alpha), range: .positive, record: .when { $0.algorithm == .fedlora },
                           doc: "fedlora's adapter scale (often twice `lora.rank`)")

    /// Every key, in declaration order.
    var all: [any AnyJobKey] { Mirror(reflecting: self).children.compactMap { $0.value as? any AnyJobKey } }

    /// The TOML tables, in the effective TOML's order.
    var sections: [String] {
        all.map(\.section).filter { !$0.isEmpty }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }
}
