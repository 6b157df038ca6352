/// The shape of a GPT-2 model.
public struct GPTConfig: Codable, Hashable, Sendable {
    public var vocabSize: Int
    /// Hugging Face `n_positions`: the longest sequence the position table covers.
    public var contextLength: Int
    public var embedDim: Int
    public var layers: Int
    public var heads: Int
    public var layerNormEpsilon: Float

    public init(vocabSize: Int, contextLength: Int, embedDim: Int, layers: Int, heads: Int, layerNormEpsilon: Float = 1e-5) {
        self.vocabSize = vocabSize; self.contextLength = contextLength; self.embedDim = embedDim
        self.layers = layers; self.heads = heads; self.layerNormEpsilon = layerNormEpsilon
    }

    /// Channels per attention head.
    public var headDim: Int { embedDim / heads }

    /// Index of the final LayerNorm's block (blocks are 0 = embeddings, 1...layers, layers + 1 = ln_f).
    public var finalNormBlock: Int { layers + 1 }

    /// Throws `GPTError.invalidConfig` unless every size is positive and the width splits evenly into heads.
    public func validate() throws {
        let sizes = [("vocab_size", vocabSize), ("n_positions", contextLength), ("n_embd", embedDim),
                     ("n_layer", layers), ("n_head", heads)]
        for (key, value) in sizes where value <= 0 {
            throw GPTError.invalidConfig("\(key) must be positive, found \(value)")
        }
        if embedDim % heads != 0 {
            throw GPTError.invalidConfig("n_embd (\(embedDim)) must be divisible by n_head (\(heads))")
        }
        if !(layerNormEpsilon > 0) {
            throw GPTError.invalidConfig("layer_norm_epsilon must be positive, found \(layerNormEpsilon)")
        }
    }
}

/// Errors from loading, saving and checking models.
public enum GPTError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case safetensors(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case missingTensor(String)
    case unexpectedTensor(String)
    case unsupportedDType(tensor: String, dtype: String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "invalid GPT-2 config: \(m)"
        case .safetensors(let m): return "invalid safetensors file: \(m)"
        case let .shapeMismatch(t, e, f): return "tensor \(t): expected shape \(e), found \(f)"
        case .missingTensor(let t): return "missing tensor \(t)"
        case .unexpectedTensor(let t): return "unexpected tensor \(t) (not part of a GPT-2 model)"
        case let .unsupportedDType(t, d): return "tensor \(t) has dtype \(d); only F32 and I32 are supported"
        case .io(let m): return m
        }
    }
}
