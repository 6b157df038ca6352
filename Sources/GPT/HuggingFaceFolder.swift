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
        let single = Self.file(path, "model.safetensors")
        if FileManager.default.fileExists(atPath: single) { return [single] }
        let indexPath = Self.file(path, "model.safetensors.index.json")
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            let torch = FileManager.default.fileExists(atPath: Self.file(path, "pytorch_model.bin"))
            throw GPTError.io("\(path) has no model.safetensors or model.safetensors.index.json"
                + (torch ? " (only pytorch_model.bin, which this program does not read: save the model with safe_serialization=True)" : ""))
        }
        guard case .object(let root)? = try? JSONValue.parse(data), let map = root["weight_map"]?.objectValue else {
            throw GPTError.safetensors("\(indexPath) has no weight_map object")
        }
        var shards: [String] = []
        for shard in map.values.compactMap(\.stringValue) where !shards.contains(shard) {
            guard !shard.contains("/") else { throw GPTError.safetensors("\(indexPath) names a shard outside the folder: \(shard)") }
            shards.append(shard)
        }
        guard !shards.isEmpty else { throw GPTError.safetensors("\(indexPath) lists no shards") }
        return shards.sorted().map { Self.file(path, $0) }
    }

    /// The model's parameters, read from every weight file.
    public func loadParameters() throws -> ParameterBuffer {
        let files = try weightFiles().map { try SafeTensorsFile(path: $0) }
        let buffer = ParameterBuffer(layout: ParameterLayout(config: config))
        try HuggingFaceModel.loadWeights(files, into: buffer)
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
