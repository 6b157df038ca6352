import Foundation

/// Models in Hugging Face layout, either family: `config.json` (its `model_type` says which) and
/// `model.safetensors`, with the tensor names and shapes of `ParameterLayout`.
public enum HuggingFaceModel {
    /// Parses a `config.json` by its `model_type` ("gpt2" when absent, as older GPT-2 configs are).
    public static func config(json data: Data) throws -> GPTConfig {
        let root = try rootObject(data)
        let type = root["model_type"]?.stringValue ?? Architecture.gpt2.family.modelType
        guard let architecture = Architecture(modelType: type) else {
            let known = Architecture.allCases.map { "\"\($0.family.modelType)\"" }.joined(separator: " and ")
            throw GPTError.invalidConfig("model_type is \"\(type)\"; only \(known) are supported")
        }
        return try architecture.family.config(huggingFace: root)
    }

    /// The top-level object of a `config.json`.
    static func rootObject(_ data: Data) throws -> [String: JSONValue] {
        do {
            guard let o = try JSONValue.parse(data).objectValue else { throw GPTError.invalidConfig("not a JSON object") }
            return o
        } catch let e as GPTError { throw e } catch { throw GPTError.invalidConfig("config.json is not valid JSON") }
    }

    /// Reads `config.json` from a file.
    public static func config(path: String) throws -> GPTConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw GPTError.io("cannot read \(path)") }
        return try config(json: data)
    }

    /// A `config.json` text transformers loads as the family's model class (GPT2LMHeadModel, LlamaForCausalLM).
    public static func configJSON(_ config: GPTConfig, bos: Int? = nil, eos: Int? = nil) -> String {
        config.family.configJSON(config, bos: bos, eos: eos)
    }

    /// Loads a model folder (`config.json` + `model.safetensors`).
    public static func load(folder: String) throws -> ParameterBuffer {
        let config = try config(path: folder + "/config.json")
        let file = try SafeTensorsFile(path: folder + "/model.safetensors")
        let buffer = ParameterBuffer(layout: ParameterLayout(config: config))
        try loadWeights([file], into: buffer)
        return buffer
    }

    /// Writes `config.json` and `model.safetensors` (fp32, the layout's names) into `folder`.
    public static func save(_ parameters: ParameterBuffer, folder: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try configJSON(parameters.layout.config).write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        } catch { throw GPTError.io("cannot write \(folder)/config.json: \(error)") }
        var writer = SafeTensorsWriter()
        for slot in parameters.layout.tensors {
            writer.add(slot.name, shape: slot.shape, floats: UnsafeBufferPointer(parameters.tensor(slot)))
        }
        try writer.write(to: folder + "/model.safetensors")
    }

    /// Fills `buffer` from the tensors of several files (the shards of one checkpoint), checking
    /// every name and shape, and that every tensor appears exactly once across them. A tied model's
    /// `lm_head.weight`, when present, must equal the token embedding.
    public static func loadWeights(_ files: [SafeTensorsFile], into buffer: ParameterBuffer) throws {
        let layout = buffer.layout, family = layout.config.family
        var seen: [String: String] = [:]
        var tiedHead: (SafeTensorsFile.Entry, SafeTensorsFile)?
        for file in files {
            for name in file.names {
                let entry = try file.entry(name)
                if name == "lm_head.weight" && layout.config.tiedHead { tiedHead = (entry, file); continue }
                let canonical = family.canonicalTensorName(name)
                guard let slot = layout.tensor(named: canonical) else {
                    if family.isBuffer(canonical) { continue }
                    throw GPTError.unexpectedTensor(name)
                }
                if let other = seen[canonical] {
                    throw GPTError.safetensors("tensor \(canonical) appears twice (as \(other) and \(name))")
                }
                seen[canonical] = name
                guard entry.shape == slot.shape else {
                    throw GPTError.shapeMismatch(tensor: name, expected: slot.shape, found: entry.shape)
                }
                try file.copyFloats(name, into: buffer.tensor(slot))
            }
        }
        for slot in layout.tensors where seen[slot.name] == nil { throw GPTError.missingTensor(slot.name) }
        if let (head, file) = tiedHead { try checkTiedHead(head, file, buffer) }
    }

    private static func checkTiedHead(_ head: SafeTensorsFile.Entry, _ file: SafeTensorsFile, _ buffer: ParameterBuffer) throws {
        let embedding = buffer.layout.tensors[0]
        guard head.shape == embedding.shape else {
            throw GPTError.shapeMismatch(tensor: head.name, expected: embedding.shape, found: head.shape)
        }
        let values = try file.floats(head.name)
        let tied = buffer.tensor(embedding)
        for i in 0..<values.count where values[i] != tied[i] {
            throw GPTError.invalidConfig("lm_head.weight differs from \(embedding.name) although the head is tied; set tie_word_embeddings to false in config.json")
        }
    }
}
