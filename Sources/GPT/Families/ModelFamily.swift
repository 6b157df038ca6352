import Kernels

/// One decoder-only model family: everything that differs between GPT-2 and Llama, asked for by
/// the layout, the passes, the Hugging Face import and export and the checkpoints instead of
/// switching on the architecture. Each conformance lives in its own folder under `Families/`.
protocol ModelFamily: Sendable {
    /// The family's name in messages: "GPT-2", "Llama".
    var name: String { get }
    /// The Hugging Face `model_type` of its `config.json`.
    var modelType: String { get }
    /// The Hugging Face `config.json` key of a shape field.
    func configName(_ field: ConfigField) -> String
    /// How its weight matrices are stored, for descriptions: "Conv1D weights are [in, out]".
    var weightLayout: String { get }
    /// Whether its weight matrices are nn.Linear's [out, in] (else Conv1D's [in, out]).
    var storesLinearWeights: Bool { get }
    /// Throws `GPTError.invalidConfig`, naming the config key, unless every size fits the family.
    func validate(_ config: GPTConfig) throws

    // MARK: Layout
    /// Block 0's tensors (Hugging Face name, shape), in buffer order.
    func embeddingTensors(_ config: GPTConfig) -> [(String, [Int])]
    /// One layer's tensors (name after `layerPrefix`, shape), in buffer order.
    func layerTensors(_ config: GPTConfig) -> [(String, [Int])]
    /// The final block's tensors: the final norm and, when untied, the head.
    func finalTensors(_ config: GPTConfig) -> [(String, [Int])]
    /// The Hugging Face name prefix of layer `layer`'s tensors, e.g. "transformer.h.0.".
    func layerPrefix(_ layer: Int) -> String
    /// The block name of layer `layer`, e.g. "h.0".
    func layerBlockName(_ layer: Int) -> String
    /// The block name of the final block, e.g. "ln_f".
    var finalBlockName: String { get }

    // MARK: Passes
    /// Whether block 0 holds learned position embeddings [contextLength, C] after the token embeddings.
    var learnsPositions: Bool { get }
    /// The norm applied to the residual stream after the last layer.
    var finalNorm: Normalization { get }
    /// The family's layer factory; `backward` allocates the backward scratch, `dln` is the trainer's
    /// buffer for d(loss)/d(normalized input), shared with the layers.
    func layerFactory(storage: FloatStorage, dims: Dims, backward: Bool, dln: UnsafeMutablePointer<Float>) -> DecoderLayerFactory
    /// The layer matrices that carry a LoRA adapter, in adapter-vector order.
    var loraTargets: [LoRATarget] { get }
    /// One layer's matrix products as (name, input width, output width, nn.Linear layout).
    func matmulSizes(_ config: GPTConfig) -> [(name: String, input: Int, output: Int, linear: Bool)]
    /// Floats one layer allocates (`ActivationMemory.Shape.layer`).
    func layerFloats(_ s: ActivationMemory.Shape, kept: Bool, trains: Bool, sharesScratch: Bool) -> Double
    /// Floats the layer factory allocates (`ActivationMemory.Shape.shared`).
    func sharedFloats(_ s: ActivationMemory.Shape, backward: Bool, anyKept: Bool, anyKeptFrozen: Bool, anyLayer: Bool) -> Double
    /// What a description adds after the head count (e.g. " over 2 key/value heads"), or "".
    func attentionNote(_ config: GPTConfig) -> String
    /// What a long description adds after `attentionNote` (e.g. ", intermediate 64, untied head"), or "".
    func mlpNote(_ config: GPTConfig) -> String

    // MARK: Hugging Face
    /// Parses a `config.json` object of this family's `model_type`.
    func config(huggingFace root: [String: JSONValue]) throws -> GPTConfig
    /// A `config.json` text transformers loads, with bos/eos ids when given.
    func configJSON(_ config: GPTConfig, bos: Int?, eos: Int?) -> String
    /// The layout name of a Hugging Face tensor name (some checkpoints drop a prefix).
    func canonicalTensorName(_ name: String) -> String
    /// Whether a Hugging Face tensor is a buffer that holds no parameters (masks, rotary frequencies).
    func isBuffer(_ name: String) -> Bool
}

/// The fields of a model shape that every family names in its `config.json`.
public enum ConfigField: CaseIterable, Sendable {
    case vocabSize, contextLength, embedDim, layers, heads, normEpsilon
}

/// The norms a family uses around its layers; their weights are contiguous in the parameter buffer.
enum Normalization {
    /// LayerNorm: weight [C], then bias [C].
    case layerNorm
    /// RMSNorm: weight [C] only; `mean` is unused.
    case rmsNorm

    func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                 inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float) {
        switch self {
        case .layerNorm:
            layerNormForward(out: out, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: weight + dim,
                             rows: rows, dim: dim, eps: eps)
        case .rmsNorm:
            rmsNormForward(out: out, rstd: rstd, inp: inp, weight: weight, rows: rows, dim: dim, eps: eps)
        }
    }

    /// `dinp` accumulated when given; the weight (and bias) gradient into `gradient`, laid out like the weights.
    func backward(dinp: UnsafeMutablePointer<Float>?, gradient: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                  inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                  rstd: UnsafePointer<Float>, rows: Int, dim: Int) {
        switch self {
        case .layerNorm:
            layerNormBackward(dinp: dinp, dweight: gradient, dbias: gradient.map { $0 + dim }, dout: dout, inp: inp,
                              weight: weight, mean: mean, rstd: rstd, rows: rows, dim: dim)
        case .rmsNorm:
            rmsNormBackward(dinp: dinp, dweight: gradient, dout: dout, inp: inp, weight: weight, rstd: rstd,
                            rows: rows, dim: dim)
        }
    }
}

extension Architecture {
    /// The family that computes this architecture: the one place an architecture picks its code.
    var family: any ModelFamily {
        switch self {
        case .gpt2: return GPT2Family()
        case .llama: return LlamaFamily()
        }
    }

    /// The architecture whose `config.json` has this `model_type`.
    init?(modelType: String) {
        guard let found = Self.allCases.first(where: { $0.family.modelType == modelType }) else { return nil }
        self = found
    }

    /// The family's name in messages: "GPT-2" or "Llama".
    public var familyName: String { family.name }

    /// How the family stores weight matrices, for descriptions: "Conv1D weights are [in, out]".
    public var weightLayout: String { family.weightLayout }
}

extension GPTConfig {
    var family: any ModelFamily { architecture.family }

    /// The model's name for messages: "GPT-2" or "Llama".
    public var familyName: String { architecture.familyName }

    /// The Hugging Face `config.json` key of `field` in this model's family.
    public func configName(_ field: ConfigField) -> String { family.configName(field) }

    /// The shape under the family's `config.json` names, as checkpoints record it: the sizes, then the norm epsilon.
    public var namedShape: (sizes: [(name: String, value: Int)], epsilon: (name: String, value: Float)) {
        let sizes: [(ConfigField, Int)] = [(.vocabSize, vocabSize), (.contextLength, contextLength), (.embedDim, embedDim),
                                           (.layers, layers), (.heads, heads)]
        return (sizes.map { (configName($0.0), $0.1) }, (configName(.normEpsilon), layerNormEpsilon))
    }
}
