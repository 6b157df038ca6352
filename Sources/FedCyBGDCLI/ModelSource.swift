import Corpus
import Foundation
import GPT
import HDF5Store

/// Where a run's model and tokenizer come from: `model.init` (a Hugging Face GPT-2 or Llama folder, a
/// safetensors file, or a fedcybgd checkpoint or run folder) or a fresh initialisation, and `data.tokenizer`
/// (bytes, GPT-2 BPE, or a Hugging Face tokenizer.json, which a model.init folder holding one chooses by itself).
/// It settles the model shape, refusing a `[model]` key that contradicts `config.json` or the checkpoint.
struct ModelSource {
    enum Start {
        case fresh
        case huggingFace(HuggingFaceFolder)
        case safetensors(String)
        /// A complete fedcybgd checkpoint, with the shape its `/model` attributes record.
        case checkpoint(String, GPTConfig)
    }

    let start: Start
    let tokenizer: any TextTokenizer
    /// The tokenizer's files, copied into the run folder so `sample` and `export` find them later.
    let tokenizerSource: TokenizerSource?
    let config: GPTConfig

    /// How the tokenizer was settled: the job's `data.tokenizer`, or "hf" when it was left
    /// unset and the starting folder holds a tokenizer.json.
    let tokenizerKind: TokenizerKind

    /// Resolves the job's model source, refusing a `[model]` key that contradicts the model it names.
    init(job: JobFile) throws {
        start = try Self.start(job)
        let setByJob = job.isSet(\.tokenizer) || job.isSet(\.tokenizerJSON)
        let folderHasOne = Self.startingFolderTokenizer(start).map { Self.hasTokenizerJSON($0) } == true
        tokenizerKind = !setByJob && folderHasOne ? .hf : job.tokenizer
        tokenizerSource = try Self.tokenizerSource(job, kind: tokenizerKind, start)
        do {
            tokenizer = try tokenizerSource?.load() ?? ByteTokenizer()
        } catch {
            throw JobFileError(job.path, "\(error)")
        }
        switch start {
        case .huggingFace(let folder):
            try Self.checkAgreement(job, with: folder.config, from: "config.json", source: "folder")
            config = folder.config
        case .checkpoint(_, let stored):
            try Self.checkAgreement(job, with: stored, from: "the checkpoint", source: "checkpoint")
            config = stored
        case .fresh, .safetensors:
            config = job.freshModelConfig(tokenizerSize: tokenizer.vocabularySize)
        }
        try checkVocabulary(job)
    }

    /// The job as it runs: with the tokenizer and the model shape this source settled.
    func resolved(_ job: JobFile) -> JobFile {
        var job = job
        if tokenizerKind != job.tokenizer { job.tokenizer = tokenizerKind }
        switch start {
        case .huggingFace, .checkpoint:
            job.layers = config.layers; job.width = config.embedDim; job.heads = config.heads; job.context = config.contextLength
        case .fresh, .safetensors: break
        }
        return job
    }

    private static func start(_ job: JobFile) throws -> Start {
        guard let path = job.initModel else { return .fresh }
        let remedy = "set model.init to a Hugging Face GPT-2 or Llama folder (config.json + model.safetensors), a .safetensors file, "
            + "a fedcybgd checkpoint-NNNNNN.h5 or a run folder"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw JobFileError(job.path, "'model.init' \(path) does not exist; \(remedy)")
        }
        if isDirectory.boolValue, !HuggingFaceFolder.isModelFolder(path), Self.isRunFolder(path) {
            return try checkpointStart(job, runFolder: path)
        }
        // Any .h5 file, not only checkpoint-NNNNNN.h5: a checkpoint copied under another name is still one.
        if !isDirectory.boolValue, path.hasSuffix(".h5") {
            return try checkpointStart(job, file: path)
        }
        if isDirectory.boolValue {
            guard HuggingFaceFolder.isModelFolder(path) else {
                throw JobFileError(job.path, "'model.init' \(path) is a folder without config.json or checkpoints; \(remedy)")
            }
            do { return .huggingFace(try HuggingFaceFolder(path: path)) } catch {
                throw JobFileError(job.path, "'model.init' \(path)/config.json: \(error); only GPT-2 (model_type gpt2, gelu_new, tied lm_head) and Llama (model_type llama, silu, no biases) models can be fine-tuned")
            }
        }
        guard path.hasSuffix(".safetensors") else {
            throw JobFileError(job.path, "'model.init' \(path) is neither a folder nor a .safetensors file; \(remedy)")
        }
        return .safetensors(path)
    }

    /// The folder that may hold the starting model's tokenizer: the Hugging Face folder, or a
    /// checkpoint's run folder's `tokenizer/`.
    private static func startingFolderTokenizer(_ start: Start) -> String? {
        switch start {
        case .huggingFace(let folder): return folder.path
        case .checkpoint(let file, _): return RunFiles.tokenizerFolder((file as NSString).deletingLastPathComponent)
        case .fresh, .safetensors: return nil
        }
    }

    private static func hasTokenizerJSON(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("tokenizer.json"))
    }

    private static func tokenizerSource(_ job: JobFile, kind: TokenizerKind, _ start: Start) throws -> TokenizerSource? {
        if kind == .hf {
            if let path = job.tokenizerJSON { return .huggingFace(json: path) }
            if let folder = startingFolderTokenizer(start), hasTokenizerJSON(folder) {
                return .huggingFace(json: (folder as NSString).appendingPathComponent("tokenizer.json"))
            }
            throw JobFileError(job.path, "data.tokenizer = \"hf\" needs a tokenizer.json; set data.tokenizer_json, "
                + "or model.init to a model folder that holds one")
        }
        guard kind == .bpe else { return nil }
        if let vocab = job.bpeVocab, let merges = job.bpeMerges { return .gpt2(vocab: vocab, merges: merges) }
        if case .huggingFace(let folder) = start, folder.hasTokenizerFiles {
            return .gpt2(vocab: (folder.path as NSString).appendingPathComponent("vocab.json"),
                         merges: (folder.path as NSString).appendingPathComponent("merges.txt"))
        }
        if case .checkpoint(let file, _) = start {
            // A BPE run keeps its tokenizer beside its checkpoints (RunFiles), so fine-tuning
            // from it needs no separate vocab and merges keys.
            let folder = RunFiles.tokenizerFolder((file as NSString).deletingLastPathComponent)
            let vocab = (folder as NSString).appendingPathComponent("vocab.json")
            if FileManager.default.fileExists(atPath: vocab) {
                return .gpt2(vocab: vocab, merges: (folder as NSString).appendingPathComponent("merges.txt"))
            }
        }
        throw JobFileError(job.path, "data.tokenizer = \"bpe\" needs vocab.json and merges.txt; set data.vocab and data.merges, "
            + "or model.init to a model folder that holds them")
    }

    /// The shape comes from `config.json` or a checkpoint; a `[model]` key set to something else is an error.
    private static func checkAgreement(_ job: JobFile, with c: GPTConfig, from origin: String, source: String) throws {
        if let set = job.architecture, set != c.architecture {
            throw JobFileError(job.path, "model.architecture = \"\(set.rawValue)\" but \(origin) holds a \(c.familyName) model (\"\(c.architecture.rawValue)\"); "
                + "the architecture of a model.init \(source) comes from \(origin), so remove model.architecture")
        }
        let llamaKeys: [(key: String, mine: Int?, theirs: Int, hf: String)] = [("vocab", job.vocab, c.vocabSize, "vocab_size")]
            + (c.architecture == .llama ? [
            ("kv_heads", job.kvHeads, c.keyValueHeads, "num_key_value_heads"),
            ("intermediate", job.intermediate, c.intermediateSize, "intermediate_size"),
        ] : [])
        for k in llamaKeys where k.mine != nil && k.mine != k.theirs {
            throw JobFileError(job.path, "model.\(k.key) = \(k.mine!) but \(origin) has \(k.hf) = \(k.theirs); the shape of a model.init \(source) comes from \(origin), so remove model.\(k.key)")
        }
        let pairs: [(key: String, mine: Int?, theirs: Int, hf: String)] = [
            ("layers", job.layers, c.layers, c.configName(.layers)),
            ("width", job.width, c.embedDim, c.configName(.embedDim)),
            ("heads", job.heads, c.heads, c.configName(.heads)),
            ("context", job.context, c.contextLength, c.configName(.contextLength)),
        ]
        let setByJob = ["layers": job.isSet(\.layers), "width": job.isSet(\.width), "heads": job.isSet(\.heads), "context": job.isSet(\.context)]
        let conflicts = pairs.filter { setByJob[$0.key] == true && $0.mine != $0.theirs }
        if !conflicts.isEmpty {
            let list = conflicts.map { "model.\($0.key) = \($0.mine.map(String.init) ?? "unset") but \(origin) has \($0.hf) = \($0.theirs)" }
            throw JobFileError(job.path, "\(list.joined(separator: "; ")); the shape of a model.init \(source) comes from \(origin), so remove these keys")
        }
        guard job.sequence <= c.contextLength else {
            throw JobFileError(job.path, "'train.sequence' \(job.sequence) is longer than the model's \(c.configName(.contextLength)) \(c.contextLength); lower train.sequence")
        }
    }

    private func checkVocabulary(_ job: JobFile) throws {
        if job.initModel != nil, tokenizerKind == .byte, config.vocabSize != ByteTokenizer.vocabSize {
            throw JobFileError(job.path, "the model.init model has vocab_size \(config.vocabSize), but data.tokenizer = \"byte\" "
                + "gives 256 ids; set data.tokenizer = \"bpe\" to use the model's own tokenizer")
        }
        if tokenizer.vocabularySize > config.vocabSize {
            let files = tokenizerSource?.files.first.map { " (\($0.source))" } ?? ""
            throw JobFileError(job.path, "the tokenizer\(files) has \(tokenizer.vocabularySize) ids but the model's vocab_size is \(config.vocabSize); "
                + "use the tokenizer files that belong to the model")
        }
    }

    /// The model to start from: the `model.init` weights, or GPT-2's initialisation from `seed`.
    func initialParameters(layout: ParameterLayout, seed: UInt64, jobPath: String) throws -> ParameterBuffer {
        switch start {
        case .fresh:
            return ParameterBuffer.initialized(layout: layout, seed: seed)
        case .huggingFace(let folder):
            do { return try folder.loadParameters() } catch {
                throw JobFileError(jobPath, "'model.init' \(folder.path): \(error); the folder's weights must match its config.json")
            }
        case .safetensors(let path):
            let buffer = ParameterBuffer(layout: layout)
            do { try HuggingFaceModel.loadWeights([try SafeTensorsFile(path: path)], into: buffer) } catch {
                throw JobFileError(jobPath, "'model.init' \(path): \(error); the file must match the job's [model] shape "
                    + "and vocabulary \(layout.config.vocabSize)")
            }
            return buffer
        case .checkpoint(let path, _):
            let buffer = ParameterBuffer(layout: layout)
            do {
                try HDF5RunReader.readParameters(path, tensors: CheckpointTensor.list(layout), into: buffer.storage)
                // A run folder stands for whichever checkpoint is newest now; say which one was taken.
                let round = (try? HDF5RunReader.readState(path).round).map { " (round \($0) of its run)" } ?? ""
                ProgressPrinter.say("note: model.init starts from \(path)\(round)")
            } catch {
                throw JobFileError(jobPath, "'model.init' \(error); point model.init at a complete checkpoint of a finished run")
            }
            return buffer
        }
    }
}
