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
        /// reused scratch layer. A Llama scratch layer made after kept layers reuses their shared
        /// gated-product buffer (`sharesScratch`).
        func layer(kept: Bool, trains: Bool = true, sharesScratch: Bool = false) -> Double {
            let c = config, maps = kept ? batch * Double(c.heads) * seq : 0  // attention's row log-sum-exps
            switch c.architecture {
            case .gpt2: return (kept ? 15 * n : 11 * n) + 4 * rows + maps
            case .llama:
                let attention = rows * Double(c.attentionWidth), hidden = rows * Double(c.intermediateSize)
                let ownsInputs = !kept || trains
                return n + 2 * rows + rows * Double(c.qkvWidth) + maps + 2 * hidden
                    + (ownsInputs ? 2 * n + attention : 0) + (kept || sharesScratch ? 0 : hidden)
            }
        }

        /// Buffers the layers of one trainer share: backward scratch, the recomputed activation of
        /// kept layers (Llama's gated product), and Llama's repeated key/value heads and the inputs
        /// of kept layers that do not train.
        func shared(backward: Bool, anyKept: Bool, anyKeptFrozen: Bool, anyLayer: Bool) -> Double {
            let c = config
            switch c.architecture {
            case .gpt2:
                return backward ? 8 * n + slots * map : 0
            case .llama:
                let attention = rows * Double(c.attentionWidth), hidden = rows * Double(c.intermediateSize)
                let scratch = rows * Double(c.qkvWidth) + (groups ? 3 * attention : 0) + attention + 3 * hidden + slots * map
                return (backward ? scratch : 0) + (anyKept ? hidden : 0) + (groups && anyLayer ? 3 * attention : 0)
                    + (anyKeptFrozen ? 2 * n + attention : 0)
            }
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
}
