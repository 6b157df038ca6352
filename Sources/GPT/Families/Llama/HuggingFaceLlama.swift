import Foundation
import Kernels

/// Reading and writing the `config.json` of Hugging Face's `LlamaForCausalLM`.
public enum HuggingFaceLlama {
    /// Parses a Llama `config.json` object; a setting this engine does not compute is refused naming its key.
    static func config(_ root: [String: JSONValue]) throws -> GPTConfig {
        func int(_ key: String) throws -> Int {
            guard let v = root[key]?.intValue else { throw GPTError.invalidConfig("missing or non-integer key \(key)") }
            return v
        }
        func optionalInt(_ key: String) throws -> Int? {
            guard let v = root[key], v != .null else { return nil }
            guard let i = v.intValue else { throw GPTError.invalidConfig("\(key) is not an integer") }
            return i
        }
        func refuseTrue(_ key: String) throws {
            if case .bool(true)? = root[key] {
                throw GPTError.invalidConfig("\(key) is true; only Llama models without biases are supported (set it to false)")
            }
        }
        try refuseTrue("attention_bias")
        try refuseTrue("mlp_bias")
        if let act = root["hidden_act"], act != .null, act.stringValue != "silu" {
            throw GPTError.invalidConfig("hidden_act is \(act.stringValue.map { "\"\($0)\"" } ?? "\(act)"); only \"silu\" is supported")
        }
        if let tp = try optionalInt("pretraining_tp"), tp != 1 {
            throw GPTError.invalidConfig("pretraining_tp is \(tp); only 1 is supported")
        }
        var eps: Float = 1e-6
        if let e = root["rms_norm_eps"], e != .null {
            guard let d = e.doubleValue else { throw GPTError.invalidConfig("rms_norm_eps is not a number") }
            eps = Float(d)
        }
        let heads = try int("num_attention_heads")
        let rope = try rotary(root)
        var tied = false
        if let t = root["tie_word_embeddings"], t != .null {
            guard case .bool(let b) = t else { throw GPTError.invalidConfig("tie_word_embeddings is not true or false") }
            tied = b
        }
        let config = GPTConfig.llama(
            vocabSize: try int("vocab_size"), contextLength: try int("max_position_embeddings"),
            embedDim: try int("hidden_size"), layers: try int("num_hidden_layers"), heads: heads,
            keyValueHeads: try optionalInt("num_key_value_heads") ?? heads,
            intermediateSize: try int("intermediate_size"), headDim: try optionalInt("head_dim"),
            ropeTheta: rope.theta, ropeScaling: rope.scaling, rmsNormEpsilon: eps, tiedHead: tied)
        try config.validate()
        return config
    }

    /// `rope_theta` at the top level (older configs) or in `rope_parameters` (newer ones), and the
    /// rope type from `rope_parameters` or `rope_scaling`: "default" or "llama3"; others are refused.
    static func rotary(_ root: [String: JSONValue]) throws -> (theta: Double, scaling: RopeScaling?) {
        var theta = 10_000.0
        if let t = root["rope_theta"], t != .null {
            guard let d = t.doubleValue else { throw GPTError.invalidConfig("rope_theta is not a number") }
            theta = d
        }
        var scaling: RopeScaling?
        for key in ["rope_parameters", "rope_scaling"] {
            guard let value = root[key], value != .null else { continue }
            guard let p = value.objectValue else { throw GPTError.invalidConfig("\(key) is not an object") }
            if let t = p["rope_theta"], t != .null {
                guard let d = t.doubleValue else { throw GPTError.invalidConfig("\(key).rope_theta is not a number") }
                theta = d
            }
            let type = (p["rope_type"] ?? p["type"])?.stringValue ?? "default"
            switch type {
            case "default": continue
            case "llama3":
                func number(_ k: String) throws -> Double {
                    guard let d = p[k]?.doubleValue else { throw GPTError.invalidConfig("\(key).\(k) is missing for rope type llama3") }
                    return d
                }
                scaling = RopeScaling(factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                                      highFrequencyFactor: try number("high_freq_factor"),
                                      originalContext: Int(try number("original_max_position_embeddings")))
            default:
                throw GPTError.invalidConfig("\(key).rope_type is \"\(type)\"; only \"default\" and \"llama3\" are supported")
            }
        }
        return (theta, scaling)
    }

    /// A `config.json` text that transformers loads as LlamaForCausalLM (float32, no dropout).
    public static func configJSON(_ c: GPTConfig, bos: Int? = nil, eos: Int? = nil) -> String {
        var fields: [String] = [
            "\"architectures\": [\"LlamaForCausalLM\"]", "\"model_type\": \"llama\"",
            "\"attention_bias\": false", "\"attention_dropout\": 0.0", "\"mlp_bias\": false", "\"hidden_act\": \"silu\"",
            "\"hidden_size\": \(c.embedDim)", "\"intermediate_size\": \(c.intermediateSize)",
            "\"num_hidden_layers\": \(c.layers)", "\"num_attention_heads\": \(c.heads)",
            "\"num_key_value_heads\": \(c.keyValueHeads)", "\"head_dim\": \(c.headDim)",
            "\"max_position_embeddings\": \(c.contextLength)", "\"vocab_size\": \(c.vocabSize)",
            "\"rms_norm_eps\": \(c.layerNormEpsilon)", "\"tie_word_embeddings\": \(c.tiedHead)",
            "\"torch_dtype\": \"float32\"",
        ]
        var rope = "\"rope_type\": \"default\", \"rope_theta\": \(c.ropeTheta)"
        if let s = c.ropeScaling {
            rope = "\"rope_type\": \"llama3\", \"rope_theta\": \(c.ropeTheta), \"factor\": \(s.factor), "
                + "\"low_freq_factor\": \(s.lowFrequencyFactor), \"high_freq_factor\": \(s.highFrequencyFactor), "
                + "\"original_max_position_embeddings\": \(s.originalContext)"
        }
        fields.append("\"rope_theta\": \(c.ropeTheta)")
        fields.append("\"rope_parameters\": {\(rope)}")
        if let bos { fields.append("\"bos_token_id\": \(bos)") }
        if let eos { fields.append("\"eos_token_id\": \(eos)") }
        return "{\n  " + fields.joined(separator: ",\n  ") + "\n}\n"
    }
}
