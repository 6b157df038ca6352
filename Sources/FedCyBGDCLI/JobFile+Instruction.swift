import Corpus

/// The job keys of instruction data (`data.format = "jsonl"`, docs/DATA.md), as written.
public struct InstructionKeys: Equatable, Sendable {
    /// `data.format`: "text" (plain text files, the default) or "jsonl" (instruction records).
    public var format = "text"
    /// `data.template`: the prompt template of Alpaca-style records.
    public var template = "alpaca"
    /// `data.chat_template`: the template of chat-style records.
    public var chatTemplate = "chatml"
    /// `data.partition_field`: the record field that labels records for by-field and dirichlet.
    public var partitionField = "task"
    /// `data.bad_records`: "stop" or "skip".
    public var badRecords = "stop"
    /// `data.test_fraction`: each client's records held out for the test split.
    public var testFraction = 0.1
    /// `data.pack`: whether short records share rows.
    public var pack = true
    /// `train.eval_prompts`: validation prompts answered greedily at each evaluation (0: none).
    public var evalPrompts = 32
    /// `train.eval_max_new_tokens`: the most ids a greedy answer may have.
    public var evalMaxNewTokens = 64
    /// `train.test_prompts`: test prompts answered once when the run finishes (0: none).
    public var testPrompts = 128
    /// Which of these keys the file set, so a plain-text job can refuse them.
    var keysSet: [String] = []
    /// Which of the evaluation keys (`train.*`) the file set.
    var trainKeysSet: [String] = []

    static let keys = ["template", "chat_template", "partition_field", "bad_records", "test_fraction", "pack"]
    static let trainKeys = ["eval_prompts", "eval_max_new_tokens", "test_prompts"]

    var isJSONL: Bool { format == "jsonl" }

    /// Equal when the values are: which keys a file spelled out does not change the job.
    public static func == (a: InstructionKeys, b: InstructionKeys) -> Bool {
        (a.format, a.template, a.chatTemplate, a.partitionField, a.badRecords) == (b.format, b.template, b.chatTemplate, b.partitionField, b.badRecords)
            && a.testFraction == b.testFraction && a.pack == b.pack
            && (a.evalPrompts, a.evalMaxNewTokens, a.testPrompts) == (b.evalPrompts, b.evalMaxNewTokens, b.testPrompts)
    }

    func validate(path: String, partition: String, categoriesSet: Bool) throws {
        guard ["text", "jsonl"].contains(format) else {
            throw JobFileError(path, "'data.format' must be \"text\" (plain text files) or \"jsonl\" (instruction records), not \"\(format)\"")
        }
        guard isJSONL else {
            if let key = keysSet.map({ "data." + $0 }).first ?? trainKeysSet.map({ "train." + $0 }).first {
                throw JobFileError(path, "'\(key)' applies to instruction data only; set data.format = \"jsonl\" or remove it")
            }
            return
        }
        guard evalPrompts >= 0, testPrompts >= 0 else {
            throw JobFileError(path, "'train.eval_prompts' and 'train.test_prompts' must not be negative (0 turns answer generation off)")
        }
        guard evalMaxNewTokens >= 1 else { throw JobFileError(path, "'train.eval_max_new_tokens' must be at least 1, e.g. 64") }
        guard ["by-field", "iid", "dirichlet"].contains(partition) else {
            throw JobFileError(path, "'data.partition' must be \"by-field\", \"iid\" or \"dirichlet\" with data.format = \"jsonl\", not \"\(partition)\"")
        }
        guard !partitionField.isEmpty else { throw JobFileError(path, "'data.partition_field' must name a record field, e.g. \"task\"") }
        guard BadRecordPolicy(rawValue: badRecords) != nil else {
            throw JobFileError(path, "'data.bad_records' must be \"stop\" (a bad record ends the run) or \"skip\" (left out and counted), not \"\(badRecords)\"")
        }
        guard testFraction >= 0, testFraction < 1 else { throw JobFileError(path, "'data.test_fraction' must be at least 0 and below 1") }
        do { _ = try PromptTemplates(instruction: template, chat: chatTemplate) } catch { throw JobFileError(path, "\(error)") }
        if categoriesSet {
            throw JobFileError(path, "'data.categories' and 'data.exclude_categories' choose files of a text corpus; with data.format = \"jsonl\" remove them")
        }
    }

    /// Effective values: none for plain text, so jobs stored before these keys compare equal.
    var effectiveValues: [(key: String, value: String)] {
        guard isJSONL else { return [] }
        return [("data.format", "\"jsonl\""), ("data.template", "\"\(template)\""), ("data.chat_template", "\"\(chatTemplate)\""),
                ("data.partition_field", "\"\(partitionField)\""), ("data.bad_records", "\"\(badRecords)\""),
                ("data.test_fraction", "\(testFraction)"), ("data.pack", "\(pack)"),
                ("train.eval_prompts", "\(evalPrompts)"), ("train.eval_max_new_tokens", "\(evalMaxNewTokens)"),
                ("train.test_prompts", "\(testPrompts)")]
    }
}

extension TableReader {
    /// Reads `data.format` and the instruction-data keys.
    func readInstruction(into job: inout JobFile) throws {
        var keys = InstructionKeys()
        keys.format = try string("data", "format") ?? keys.format
        keys.template = try string("data", "template") ?? keys.template
        keys.chatTemplate = try string("data", "chat_template") ?? keys.chatTemplate
        keys.partitionField = try string("data", "partition_field") ?? keys.partitionField
        keys.badRecords = try string("data", "bad_records") ?? keys.badRecords
        keys.testFraction = try double("data", "test_fraction") ?? keys.testFraction
        keys.pack = try bool("data", "pack") ?? keys.pack
        keys.evalPrompts = try int("train", "eval_prompts") ?? keys.evalPrompts
        keys.evalMaxNewTokens = try int("train", "eval_max_new_tokens") ?? keys.evalMaxNewTokens
        keys.testPrompts = try int("train", "test_prompts") ?? keys.testPrompts
        keys.keysSet = InstructionKeys.keys.filter { value("data", $0) != nil }
        keys.trainKeysSet = InstructionKeys.trainKeys.filter { value("train", $0) != nil }
        job.instruction = keys
        // Records have no files to split by; their natural split is by their label field.
        if keys.isJSONL, value("data", "partition") == nil { job.partition = "by-field" }
    }
}

extension RunPlan {
    /// The loader's settings, from the job.
    var instructionSettings: InstructionSettings {
        let keys = job.instruction
        return InstructionSettings(
            scheme: partition, labelField: keys.partitionField,
            templates: (try? PromptTemplates(instruction: keys.template, chat: keys.chatTemplate)) ?? PromptTemplates(),
            validationFraction: job.validationFraction, testFraction: keys.testFraction, sequence: job.sequence,
            pack: keys.pack, seed: job.seed, badRecords: BadRecordPolicy(rawValue: keys.badRecords) ?? .stop)
    }
}
