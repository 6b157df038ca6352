/// One transformer layer's activations with its forward and backward passes: the part of the
/// model that differs by family. The trainer, the evaluator and the cached decoder hold layers only
/// through this, so training and decoding run the same layer code.
protocol DecoderLayer: AnyObject {
    /// Where `forward` writes the layer's output (the next layer's input in the residual stream).
    var out: UnsafeMutablePointer<Float> { get set }

    /// Layer `l` from the residual stream `input` to `out`, keeping what `backward` needs when the
    /// layer was made for the backward pass.
    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>)

    /// Layer `l` on `rows` rows appended to the one sequence `cache` holds (positions cache.count
    /// onward): the same math as `forward` on those rows, with attention over the cached keys and
    /// values, after storing the rows' own. `out` may be `input`.
    func forward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, rows: Int, cache: KeyValueCache)

    /// Backward through layer `l`: `dres` holds d(loss)/d(output) on entry and d(loss)/d(input) on
    /// exit (only when `needInputGradient`). `gradient` is the layer block's gradient, laid out like
    /// the block, or nil when the block is frozen.
    func backward(_ p: ParameterBuffer, _ l: Int, input: UnsafePointer<Float>, dres: UnsafeMutablePointer<Float>,
                  gradient: UnsafeMutablePointer<Float>?, needInputGradient: Bool)
}

/// Makes one family's layers (`ModelFamily.layerFactory`); the layers of one trainer share its backward scratch.
protocol DecoderLayerFactory {
    /// A layer writing to `out`. `keepForBackward` keeps its activations for `backward`; otherwise
    /// it may reuse scratch that every non-kept layer of this factory shares. A kept layer that
    /// does not `trains` needs only input gradients, so it may share what only weight gradients read.
    func makeLayer(out: UnsafeMutablePointer<Float>, keepForBackward: Bool, trains: Bool) -> DecoderLayer
}
