import Corpus
import Federation
import GPT

extension JobFile {
    /// Checks what no single key's range can: keys that go together or exclude each other.
    /// Each key's own type and range were checked as it was read (`JobSchema`).
    mutating func validate() throws {
        try checkEachValue()
        func require(_ ok: Bool, _ key: String, _ why: String) throws {
            if !ok { throw JobFileError(path, "'\(key)' \(why)") }
        }
        try require(!self.name.isEmpty && !self.name.contains("/"), "name", "must be a non-empty name without '/'")
        guard isSet(\.corpus) else { throw JobFileError(path, "missing 'data.corpus'; set it to a text file or a folder of text files") }
        try require(self.width % self.heads == 0, "model.width", "must be a positive multiple of model.heads")
        try require(!(self.rounds != nil && self.cycles != nil), "train.rounds", "and train.cycles are both set; set one of them")
        try require(self.rounds != nil || self.cycles != nil, "train.rounds", "or train.cycles must be set")
        try require(!(isSet(\.localSteps) && isSet(\.localEpochs)), "train.local_steps", "and 'train.local_epochs' are both set; set one of them")
        try require((self.context ?? self.sequence) >= self.sequence, "model.context", "must be at least train.sequence")
        try require(self.embeddingShards == 1 || self.algorithm.trainsOneBlock, "train.embedding_shards",
                    "applies to the block-cyclic algorithms (fedcybgd, badam); set it to 1 for \(self.algorithm.rawValue)")
        try require(self.dropFraction == 0 || self.algorithm.trainsOneBlock, "download.drop_fraction",
                    "drops frozen layers, but train.algorithm = \"\(self.algorithm.rawValue)\" trains every layer; remove it or use fedcybgd")
        try validatePartition()
        try validateModelSource()
        try validateArchitecture()
        try validateInstructionKeys()
        try validateCategories()
    }

    private func validatePartition() throws {
        if isInstructionData {
            guard self.partition != .byFile else {
                throw JobFileError(path, "'data.partition' must be \"by-field\", \"iid\" or \"dirichlet\" with data.format = \"jsonl\", not \"by-file\"")
            }
        } else if self.partition == .byField {
            throw JobFileError(path, "'data.partition' \"by-field\" needs data.format = \"jsonl\"; plain text is split \"by-file\", \"iid\" or \"dirichlet\"")
        }
        if self.partition == .iid || self.partition == .dirichlet, self.clients == nil {
            throw JobFileError(path, "'data.clients' must be set (at least 1) when data.partition = \"\(self.partition.rawValue)\"")
        }
    }

    /// Checks the model-source keys that need no file to check (`ModelSource` checks the rest).
    private func validateModelSource() throws {
        func fail(_ message: String) -> JobFileError { JobFileError(path, message) }
        if self.tokenizerJSON != nil && self.tokenizer != .hf {
            throw fail("'data.tokenizer_json' needs data.tokenizer = \"hf\"; set it, or remove data.tokenizer_json")
        }
        guard (self.bpeVocab == nil) == (self.bpeMerges == nil) else {
            throw fail("'data.vocab' and 'data.merges' go together; set both (a GPT-2 vocab.json and merges.txt) or neither")
        }
        if self.bpeVocab != nil && self.tokenizer != .bpe {
            throw fail("'data.vocab' and 'data.merges' need data.tokenizer = \"bpe\"; set it, or remove them")
        }
        if let initModel = self.initModel, initModel.isEmpty {
            throw fail("'model.init' is empty; set it to a Hugging Face GPT-2 or Llama folder, a .safetensors file, a fedcybgd checkpoint or run folder, or remove it")
        }
    }

    /// The Llama keys: refused for GPT-2, and the head shapes rotary positions and grouping need.
    private func validateArchitecture() throws {
        func fail(_ message: String) -> JobFileError { JobFileError(path, message) }
        if (self.architecture ?? .gpt2) == .gpt2 {
            let llamaOnly = [("kv_heads", isSet(\.kvHeads)), ("intermediate", isSet(\.intermediate)),
                             ("tie_embeddings", isSet(\.tieEmbeddings)), ("rope_theta", isSet(\.ropeTheta))]
            if let key = llamaOnly.first(where: \.1)?.0 {
                throw fail("'model.\(key)' is a Llama key, but model.architecture is \"gpt2\"; set model.architecture = \"llama\" or remove it")
            }
            return
        }
        let kv = self.kvHeads ?? self.heads
        guard self.heads % kv == 0 else { throw fail("'model.kv_heads' (\(kv)) must be at least 1 and divide model.heads (\(self.heads))") }
        guard (self.width / self.heads) % 2 == 0 else {
            throw fail("'model.width' / 'model.heads' (\(self.width / self.heads)) must be even for rotary positions; change model.width or model.heads")
        }
    }

    /// The instruction-data keys mean nothing for plain text, and templates must exist.
    private func validateInstructionKeys() throws {
        guard isInstructionData else {
            let instructionOnly: [(String, Bool)] = [
                ("data.template", isSet(\.template)), ("data.chat_template", isSet(\.chatTemplate)),
                ("data.partition_field", isSet(\.partitionField)), ("data.bad_records", isSet(\.badRecords)),
                ("data.test_fraction", isSet(\.testFraction)), ("data.pack", isSet(\.pack)),
                ("train.eval_prompts", isSet(\.evalPrompts)), ("train.eval_max_new_tokens", isSet(\.evalMaxNewTokens)),
                ("train.test_prompts", isSet(\.testPrompts)),
            ]
            if let key = instructionOnly.first(where: \.1)?.0 {
                throw JobFileError(path, "'\(key)' applies to instruction data only; set data.format = \"jsonl\" or remove it")
            }
            return
        }
        guard !self.partitionField.isEmpty else { throw JobFileError(path, "'data.partition_field' must name a record field, e.g. \"task\"") }
        do { _ = try promptTemplates() } catch { throw JobFileError(path, "\(error)") }
        if self.categories != nil || self.excludeCategories != nil {
            throw JobFileError(path, "'data.categories' and 'data.exclude_categories' choose files of a text corpus; with data.format = \"jsonl\" remove them")
        }
    }

    /// The prompt templates `data.template` and `data.chat_template` name.
    func promptTemplates() throws -> PromptTemplates {
        try PromptTemplates(instruction: self.template, chat: self.chatTemplate)
    }

    /// The model config these keys describe for a fresh model whose tokenizer has `tokenizerSize` ids.
    func freshModelConfig(tokenizerSize: Int) -> GPTConfig {
        let vocabSize = self.vocab ?? tokenizerSize
        let contextLength = self.context ?? self.sequence
        guard self.architecture == .llama else {
            return GPTConfig(vocabSize: vocabSize, contextLength: contextLength, embedDim: self.width, layers: self.layers, heads: self.heads)
        }
        return .llama(vocabSize: vocabSize, contextLength: contextLength, embedDim: self.width, layers: self.layers, heads: self.heads,
                      keyValueHeads: self.kvHeads ?? self.heads, intermediateSize: self.intermediate ?? (8 * self.width / 3 + 7) / 8 * 8,
                      ropeTheta: self.ropeTheta ?? 10_000, tiedHead: self.tieEmbeddings ?? false)
    }
}
