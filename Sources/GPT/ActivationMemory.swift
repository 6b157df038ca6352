/// Floats a trainer or an evaluator allocates, computed without allocating anything (in Double, so
/// absurd shapes cannot overflow), so that a job can be sized before it starts. It mirrors
/// `GPTTrainer.init`, the layer factories and the layers; `ActivationMemoryTests` holds it to the
/// floats they really allocate.
public enum ActivationMemory {
    /// Rows of logits computed at once: the whole batch unless the chunk would exceed both about
    /// 32 MB and the head weight's own vocab × width floats. Each chunk makes a pass over the head
    /// weight (twice) and its gradient, so at a large vocabulary fewer, larger chunks save passes
    /// over hundreds of MB; a chunk the size of the head weight at most doubles what it already takes.
    public static func headChunkRows(rows: Double, vocab: Int, width: Int) -> Double {
        max(1, min(rows, max(Double((8 << 20) / max(vocab, 1)), Double(width))))
    }

    /// The sizes the counts depend on.
    struct Shape {
        let config: GPTConfig
        let rows, seq, batch, slots: Double
        var n: Double { rows * Double(config.embedDim) }
        var map: Double { seq * seq }
        var groups: Bool { config.keyValueHeads != config.heads }

        init(_ config: GPTConfig, batch: Int, sequence: Int, threads: Int) {
            self.config = config
            self.batch = Double(batch); seq = Double(sequence); rows = Double(batch) * Double(sequence)
            slots = Double(max(2, threads))
        }

        /// Floats of the logits chunk, `Dims.headChunkRows` rows.
        var logitsChunk: Double {
            ActivationMemory.headChunkRows(rows: rows, vocab: config.vocabSize, width: config.embedDim) * Double(config.vocabSize)
        }

        /// One layer's own buffers: kept for backward (`trains` or for input gradients only), or a
        /// reused scratch layer (`sharesScratch`: made after kept layers), as the family allocates them.
        func layer(kept: Bool, trains: Bool = true, sharesScratch: Bool = false) -> Double {
            config.family.layerFloats(self, kept: kept, trains: trains, sharesScratch: sharesScratch)
        }

        /// Buffers the layers of one trainer share, as the family's layer factory allocates them.
        func shared(backward: Bool, anyKept: Bool, anyKeptFrozen: Bool, anyLayer: Bool) -> Double {
            config.family.sharedFloats(self, backward: backward, anyKept: anyKept, anyKeptFrozen: anyKeptFrozen, anyLayer: anyLayer)
        }
    }

    /// Activation and backward-scratch floats of a `GPTTrainer` training `trainableBlocks` (none:
    /// it only computes the loss), with `skipped` layers, `threads` BLAS threads.
    public static func trainer(config: GPTConfig, batch: Int, sequence: Int, trainableBlocks: Set<Int>, skipped: Set<Int> = [],
                               threads: Int) -> Double {
        let s = Shape(config, batch: batch, sequence: sequence, threads: threads)
        let layers = config.layers
        let storedFrom = min(max((trainableBlocks.min() ?? (layers + 1)) - 1, 0), layers)
        let storedLayers = (storedFrom..<layers).filter { !skipped.contains($0) }
        let trained = Double(storedLayers.filter { trainableBlocks.contains($0 + 1) }.count)
        let stored = Double(storedLayers.count), frozen = stored - trained
        let frozenRun = (0..<storedFrom).contains { !skipped.contains($0) }
        let training = !trainableBlocks.isEmpty
        var floats = s.n + stored * s.n                                   // residual stream
        floats += trained * s.layer(kept: true) + frozen * s.layer(kept: true, trains: false)
        floats += s.shared(backward: training && stored > 0, anyKept: stored > 0, anyKeptFrozen: frozen > 0,
                           anyLayer: stored > 0 || frozenRun)
        if frozenRun { floats += s.n + s.layer(kept: false, sharesScratch: stored > 0) }  // spare residual, scratch layer
        floats += s.n + 2 * s.rows + s.logitsChunk                        // final norm, logits chunk
        if training { floats += 2 * s.n }                                 // dres, dln
        return floats
    }

    /// Floats of a `GPTEvaluator`: one reused layer, two residuals, the final norm and a logits chunk.
    public static func evaluator(config: GPTConfig, batch: Int, sequence: Int, threads: Int) -> Double {
        let s = Shape(config, batch: batch, sequence: sequence, threads: threads)
        return 2 * s.n + s.layer(kept: false) + s.shared(backward: false, anyKept: false, anyKeptFrozen: false, anyLayer: true)
            + s.n + 2 * s.rows + s.logitsChunk
    }

    /// Floats a `LoRATrainer` holds besides the adapters (`LoRATrainer.memoryFloatCount`): the merged
    /// working model, the dense gradients of every layer block (no moments), the inner trainer's
    /// activations with every layer trainable, and the adapters' gradient and two moments.
    public static func loraTrainer(config: GPTConfig, lora: LoRAConfig, batch: Int, sequence: Int, threads: Int) -> Double {
        let layout = ParameterLayout(config: config)
        let layerGradients = (1...config.layers).reduce(0.0) { $0 + Double(layout.blocks[$1].range.count) }
        let adapters = LoRALayout.parameterCount(model: config, rank: lora.rank)
        return Double(layout.parameterCount) + layerGradients + 3 * adapters
            + trainer(config: config, batch: batch, sequence: sequence, trainableBlocks: Set(1...config.layers), threads: threads)
    }
}

