import Corpus
import Foundation
import GPT
import HDF5Store

/// Where a run's model and tokenizer come from: `model.init` (a Hugging Face GPT-2 folder, a
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

    /// Resolves the job's model source; on return `job`'s shape keys hold the model's real shape.
    init(job: inout JobFile) throws {
        start = try Self.start(job)
        if !job.tokenizerSet, Self.startingFolderTokenizer(start).map({ Self.hasTokenizerJSON($0) }) == true { job.tokenizer = "hf" }
        tokenizerSource = try Self.tokenizerSource(job, start)
        do {
            tokenizer = try tokenizerSource?.load() ?? ByteTokenizer()
        } catch {
            throw JobFileError(job.path, "\(error)")
        }
        var config = job.architecture.config(vocabSize: tokenizer.vocabularySize, context: job.context ?? job.sequence,
                                             width: job.width, layers: job.layers, heads: job.heads)
        switch start {
        case .huggingFace(let folder):
            try Self.adopt(folder.config, from: "config.json", source: "folder", into: &job)
            config = folder.config
        case .checkpoint(_, let stored):
            try Self.adopt(stored, from: "the checkpoint", source: "checkpoint", into: &job)
            config = stored
        case .fresh, .safetensors: break
        }
        self.config = config
        try checkVocabulary(job)
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

    private static func tokenizerSource(_ job: JobFile, _ start: Start) throws -> TokenizerSource? {
        if job.tokenizer == "hf" {
            if let path = job.tokenizerJSON { return .huggingFace(json: path) }
            if let folder = startingFolderTokenizer(start), hasTokenizerJSON(folder) {
                return .huggingFace(json: (folder as NSString).appendingPathComponent("tokenizer.json"))
            }
            throw JobFileError(job.path, "data.tokenizer = \"hf\" needs a tokenizer.json; set data.tokenizer_json, "
                + "or model.init to a model folder that holds one")
        }
        guard job.tokenizer == "bpe" else { return nil }
        if let vocab = job.vocab, let merges = job.merges { return .gpt2(vocab: vocab, merges: merges) }
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

    /// Takes the shape from `config.json` or a checkpoint; a `[model]` key set to something else is an error.
    private static func adopt(_ c: GPTConfig, from origin: String, source: String, into job: inout JobFile) throws {
        if let set = job.architecture.architecture, set != c.architecture.rawValue {
            throw JobFileError(job.path, "model.architecture = \"\(set)\" but \(origin) holds a \(c.familyName) model (\"\(c.architecture.rawValue)\"); "
                + "the architecture of a model.init \(source) comes from \(origin), so remove model.architecture")
        }
        let llamaKeys: [(key: String, mine: Int?, theirs: Int, hf: String)] = [("vocab", job.architecture.vocab, c.vocabSize, "vocab_size")]
            + (c.architecture == .llama ? [
            ("kv_heads", job.architecture.kvHeads, c.keyValueHeads, "num_key_value_heads"),
            ("intermediate", job.architecture.intermediate, c.intermediateSize, "intermediate_size"),
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
        let conflicts = pairs.filter { job.modelKeysSet.contains($0.key) && $0.mine != $0.theirs }
        if !conflicts.isEmpty {
            let list = conflicts.map { "model.\($0.key) = \($0.mine.map(String.init) ?? "unset") but \(origin) has \($0.hf) = \($0.theirs)" }
            throw JobFileError(job.path, "\(list.joined(separator: "; ")); the shape of a model.init \(source) comes from \(origin), so remove these keys")
        }
        job.layers = c.layers; job.width = c.embedDim; job.heads = c.heads; job.context = c.contextLength
        guard job.sequence <= c.contextLength else {
            throw JobFileError(job.path, "'train.sequence' \(job.sequence) is longer than the model's \(c.configName(.contextLength)) \(c.contextLength); lower train.sequence")
        }
    }

    private func checkVocabulary(_ job: JobFile) throws {
        if job.initModel != nil, job.tokenizer == "byte", config.vocabSize != ByteTokenizer.vocabSize {
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
