/// One transformer layer's activations with its forward and backward passes: the part of the
/// model that differs by architecture. The trainer and the evaluator hold layers only through this.
protocol DecoderLayer: AnyObject {
    /// Where `forward` writes the layer's output (the next layer's input in the residual stream).
    var out: UnsafeMutablePointer<Float> { get set }

    /// Layer `l` from the residual stream `input` to `out`, keeping what `backward` needs when the
    /// layer was made for the backward pass.
    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>)

    /// Backward through layer `l`: `dres` holds d(loss)/d(output) on entry and d(loss)/d(input) on
    /// exit (only when `needInputGradient`). `gradient` is the layer block's gradient, laid out like
    /// the block, or nil when the block is frozen.
    func backward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, dres: UnsafeMutablePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>?, needInputGradient: Bool)
}

/// Makes one architecture's layers; the layers of one trainer share its backward scratch.
protocol DecoderLayerFactory {
    /// A layer writing to `out`. `keepForBackward` keeps its activations for `backward`; otherwise
    /// it may reuse scratch that every non-kept layer of this factory shares. A kept layer that
    /// does not `trains` needs only input gradients, so it may share what only weight gradients read.
    func makeLayer(out: UnsafeMutablePointer<Float>, keepForBackward: Bool, trains: Bool) -> DecoderLayer
}

extension Architecture {
    /// The layer factory for this architecture. `backward` allocates the backward scratch; `dln` is
    /// the trainer's buffer for d(loss)/d(normalized input), shared with the layers.
    func layerFactory(storage: FloatStorage, dims: Dims, backward: Bool, dln: UnsafeMutablePointer<Float>) -> DecoderLayerFactory {
        switch self {
        case .gpt2: return GPT2LayerFactory(storage: storage, dims: dims, backward: backward, dln: dln)
        case .llama: return LlamaLayerFactory(storage: storage, dims: dims, backward: backward, dln: dln)
        }
    }
}
