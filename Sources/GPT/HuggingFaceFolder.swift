import Foundation

/// A GPT-2 or Llama model folder in Hugging Face layout, as `save_pretrained` writes it and the
/// Hub serves it: `config.json`, the weights as `model.safetensors` or as shards listed in
/// `model.safetensors.index.json`, and optionally the tokenizer's `vocab.json` and `merges.txt`.
public struct HuggingFaceFolder: Sendable {
    public let path: String
    /// The model shape, from `config.json`.
    public let config: GPTConfig

    /// Whether `path` is a folder holding a `config.json`.
    public static func isModelFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: file(path, "config.json"))
    }

    /// Reads and checks `config.json`: only GPT-2 and Llama models this engine computes exactly are
    /// accepted, and a refusal names the config key.
    public init(path: String) throws {
        self.path = path
        let configPath = Self.file(path, "config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw GPTError.io("cannot read \(configPath)")
        }
        if case .object(let root)? = try? JSONValue.parse(data), case .bool(true)? = root["add_cross_attention"] {
            throw GPTError.invalidConfig("add_cross_attention is true; only decoder-only GPT-2 models are supported")
        }
        config = try HuggingFaceModel.config(json: data)
    }

    /// Whether the folder has the tokenizer files a byte-level BPE tokenizer needs.
    public var hasTokenizerFiles: Bool {
        ["vocab.json", "merges.txt"].allSatisfy { FileManager.default.fileExists(atPath: Self.file(path, $0)) }
    }

    /// The safetensors files that hold the weights: the single file, or every shard the index names.
    public func weightFiles() throws -> [String] {
        try HuggingFaceWeights.filePaths(folder: path)
    }

    /// The weights, read from the single file or from every shard the index names.
    public func weights() throws -> HuggingFaceWeights {
        try HuggingFaceWeights(folder: path)
    }

    /// The model's parameters, read from every weight file.
    public func loadParameters() throws -> ParameterBuffer {
        let buffer = ParameterBuffer(layout: ParameterLayout(config: config))
        try HuggingFaceModel.loadWeights(try weights().files, into: buffer)
        return buffer
    }

    /// `config.json` text for `config`, with the end-of-text id as bos and eos when the
    /// vocabulary has one, so `generate` in transformers stops where this program's sampler does.
    public static func configJSON(_ config: GPTConfig, endOfText: Int?) -> String {
        HuggingFaceModel.configJSON(config, bos: endOfText, eos: endOfText)
    }

    static func file(_ folder: String, _ name: String) -> String {
        (folder as NSString).appendingPathComponent(name)
    }
}
