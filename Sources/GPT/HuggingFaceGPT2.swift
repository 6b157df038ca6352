import Foundation

/// Reading and writing GPT-2 models in Hugging Face layout: a folder with `config.json` and
/// `model.safetensors` (Conv1D weights stored [in, out], lm_head tied to wte and not stored).
public enum HuggingFaceGPT2 {
    /// Parses a Hugging Face GPT-2 `config.json`.
    public static func config(json data: Data) throws -> GPTConfig {
        let root: [String: JSONValue]
        do {
            guard let o = try JSONValue.parse(data).objectValue else { throw GPTError.invalidConfig("not a JSON object") }
            root = o
        } catch let e as GPTError { throw e } catch { throw GPTError.invalidConfig("config.json is not valid JSON") }
        func require(_ key: String, _ value: String) throws {
            if let v = root[key], v != .null, v.stringValue != value {
                throw GPTError.invalidConfig("\(key) is \(v.stringValue.map { "\"\($0)\"" } ?? "\(v)"); only \"\(value)\" is supported")
            }
        }
        try require("model_type", "gpt2")
        try require("activation_function", "gelu_new")
        func int(_ key: String) throws -> Int {
            guard let v = root[key]?.intValue else { throw GPTError.invalidConfig("missing or non-integer key \(key)") }
            return v
        }
        func flag(_ key: String, mustBe expected: Bool) throws {
            if case .bool(let b)? = root[key], b != expected {
                throw GPTError.invalidConfig("\(key) is \(b); only \(expected) is supported")
            }
        }
        try flag("scale_attn_weights", mustBe: true)
        try flag("scale_attn_by_inverse_layer_idx", mustBe: false)
        try flag("tie_word_embeddings", mustBe: true)
        let embd = try int("n_embd")
        if let inner = root["n_inner"], inner != .null, inner.intValue != 4 * embd {
            throw GPTError.invalidConfig("n_inner is \(inner); only null or 4 * n_embd (\(4 * embd)) is supported")
        }
        var eps: Float = 1e-5
        if let e = root["layer_norm_epsilon"] {
            guard let d = e.doubleValue else { throw GPTError.invalidConfig("layer_norm_epsilon is not a number") }
            eps = Float(d)
        }
        let config = GPTConfig(vocabSize: try int("vocab_size"), contextLength: try int("n_positions"), embedDim: embd,
                               layers: try int("n_layer"), heads: try int("n_head"), layerNormEpsilon: eps)
        try config.validate()
        return config
    }

    /// Reads `config.json` from a file.
    public static func config(path: String) throws -> GPTConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw GPTError.io("cannot read \(path)") }
        return try config(json: data)
    }

    /// A `config.json` text that Hugging Face transformers loads as GPT2LMHeadModel.
    public static func configJSON(_ c: GPTConfig) -> String {
        """
        {
          "activation_function": "gelu_new",
          "architectures": ["GPT2LMHeadModel"],
          "attn_pdrop": 0.0,
          "embd_pdrop": 0.0,
          "layer_norm_epsilon": \(c.layerNormEpsilon),
          "model_type": "gpt2",
          "n_embd": \(c.embedDim),
          "n_head": \(c.heads),
          "n_inner": null,
          "n_layer": \(c.layers),
          "n_positions": \(c.contextLength),
          "resid_pdrop": 0.0,
          "scale_attn_weights": true,
          "tie_word_embeddings": true,
          "vocab_size": \(c.vocabSize)
        }

        """
    }

    /// Loads a model folder (`config.json` + `model.safetensors`).
    public static func load(folder: String) throws -> ParameterBuffer {
        let config = try config(path: folder + "/config.json")
        let file = try SafeTensorsFile(path: folder + "/model.safetensors")
        let buffer = ParameterBuffer(layout: ParameterLayout(config: config))
        try loadWeights(file, into: buffer)
        return buffer
    }

    /// Writes `config.json` and `model.safetensors` (names with the `transformer.` prefix) into `folder`.
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

    /// The layout name for a Hugging Face tensor name: the `transformer.` prefix is optional.
    static func canonicalName(_ name: String) -> String {
        name.hasPrefix("transformer.") ? name : "transformer." + name
    }

    /// Causal-mask buffers some GPT-2 checkpoints carry; they hold no parameters.
    static func isMaskBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias")
    }

    /// Fills `buffer` from the tensors of `file`, checking every name and shape.
    public static func loadWeights(_ file: SafeTensorsFile, into buffer: ParameterBuffer) throws {
        try loadWeights([file], into: buffer)
    }

    /// Fills `buffer` from the tensors of several files (the shards of one checkpoint), checking
    /// every name and shape, and that every tensor appears exactly once across them.
    public static func loadWeights(_ files: [SafeTensorsFile], into buffer: ParameterBuffer) throws {
        let layout = buffer.layout
        var seen: [String: String] = [:]
        var lmHead: (SafeTensorsFile.Entry, SafeTensorsFile)?
        for file in files {
            for name in file.names {
                let entry = try file.entry(name)
                if name == "lm_head.weight" { lmHead = (entry, file); continue }
                let canonical = canonicalName(name)
                guard let slot = layout.tensor(named: canonical) else {
                    if isMaskBuffer(canonical) { continue }
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
        if let (head, file) = lmHead { try checkTiedHead(head, file, buffer) }
    }

    private static func checkTiedHead(_ head: SafeTensorsFile.Entry, _ file: SafeTensorsFile, _ buffer: ParameterBuffer) throws {
        let wte = buffer.layout.tensors[0]
        guard head.shape == wte.shape else {
            throw GPTError.shapeMismatch(tensor: head.name, expected: wte.shape, found: head.shape)
        }
        let values = try file.floats(head.name)
        let tied = buffer.tensor(wte)
        for i in 0..<values.count where values[i] != tied[i] {
            throw GPTError.invalidConfig("lm_head.weight differs from transformer.wte.weight; only tied heads are supported")
        }
    }
}
