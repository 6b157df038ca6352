import Foundation

/// Reading and writing GPT-2 models in Hugging Face layout: a folder with `config.json` and
/// `model.safetensors` (Conv1D weights stored [in, out], lm_head tied to wte and not stored).
public enum HuggingFaceGPT2 {
    /// Parses a Hugging Face GPT-2 `config.json`.
    public static func config(json data: Data) throws -> GPTConfig {
        try config(HuggingFaceModel.rootObject(data))
    }

    /// Parses a GPT-2 `config.json` object; a setting this engine does not compute is refused naming its key.
    static func config(_ root: [String: JSONValue]) throws -> GPTConfig {
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
}
