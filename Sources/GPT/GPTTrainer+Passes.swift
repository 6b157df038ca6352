import Kernels

extension GPTTrainer {
    /// The whole forward and backward pass on validated token pointers; returns the mean loss.
    func run(_ p: ParameterBuffer, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>) -> Float {
        let d = dims
        if !gradientsAreZero {
            for (g, range) in zip(gradients, trainedRanges) {
                if let g, let range { zeroFill(g, count: range.count) }
            }
        }
        gradientsAreZero = false
        forwardToFinalNorm(p, tokens: tokens)
        let loss = headAndLoss(p, targets: targets)
        guard let lowest = lowestTrainableBlock else { return loss }

        let normBlock = d.layers + 1
        dres.update(repeating: 0, count: d.rows * d.channels)
        ForwardPass.finalNormBackward(p, dinp: lowest < normBlock ? dres : nil, gradient: gradients[normBlock], dout: dln,
                                      input: residuals[residuals.count - 1], mean: lnfMean, rstd: lnfRstd, d)
        // A skipped layer is the identity, so dres passes through it unchanged.
        for l in (storedFrom..<d.layers).reversed() {
            guard let layer = stored[l - storedFrom] else { continue }
            layer.backward(p, l, input: residuals[l - storedFrom], dres: dres, gradient: gradients[l + 1],
                           needInputGradient: lowest < l + 1)
        }
        if lowest == 0, let embeddingGradient = gradients[0] {
            ForwardPass.embedBackward(gradient: embeddingGradient, dout: dres, tokens: tokens, shard: embeddingShard, d)
        }
        return loss
    }

    /// Embeddings, then the frozen layers without storing, then the stored layers, then the final norm into `lnf`.
    func forwardToFinalNorm(_ p: ParameterBuffer, tokens: UnsafePointer<Int32>) {
        let d = dims
        if let scratch = frozenScratch, let spare = spareResidual {
            let start = residuals[0]
            ForwardPass.embed(p, tokens: tokens, out: start, d)
            let result = ForwardPass.layersWithoutStoring(p, 0..<storedFrom, skipping: skippedLayers, input: start,
                                                          spare: spare, scratch)
            if result != start { start.update(from: result, count: d.rows * d.channels) }
        } else {
            ForwardPass.embed(p, tokens: tokens, out: residuals[0], d)
        }
        for l in storedFrom..<d.layers {
            guard let layer = stored[l - storedFrom] else { continue }  // skipped: its output buffer is its input
            layer.forward(p, l, input: residuals[l - storedFrom])
        }
        ForwardPass.finalNorm(p, input: residuals[residuals.count - 1], out: lnf, mean: lnfMean, rstd: lnfRstd, d)
    }

    /// The output head and cross-entropy in row chunks; when training, also d(lnf) into `dln` and
    /// the head weight's gradient (when its block trains). Returns the mean loss.
    func headAndLoss(_ p: ParameterBuffer, targets: UnsafePointer<Int32>) -> Float {
        let d = dims, c = d.channels
        var counted = 0
        for r in 0..<d.rows where targets[r] >= 0 { counted += 1 }
        let training = lowestTrainableBlock != nil
        let scale: Float? = training ? (counted > 0 ? 1 / Float(counted) : 0) : nil
        let head = p.base + layout.headOffset
        // A sharded tied head: its weight gradient only for the shard's rows.
        let headRows = layout.headBlock == 0 ? embeddingShard?.rows(vocab: d.vocab) : nil
        let dhead = grad(layout.headBlock, layout.headOffset + (headRows?.lowerBound ?? 0) * c)
        var total = 0.0
        var r0 = 0
        while r0 < d.rows {
            let rows = min(d.headChunkRows, d.rows - r0)
            headForward(logits: logits, inp: lnf + r0 * c, head: head, rows: rows, dim: c, vocab: d.vocab)
            total += crossEntropy(logits: logits, targets: targets + r0, rows: rows, vocab: d.vocab, gradientScale: scale).sum
            if training {
                headBackward(dinp: dln + r0 * c, dhead: dhead, dlogits: logits, inp: lnf + r0 * c, head: head,
                             rows: rows, dim: c, vocab: d.vocab, vocabRows: headRows)
            }
            r0 += rows
        }
        return counted > 0 ? Float(total / Double(counted)) : 0
    }
}
