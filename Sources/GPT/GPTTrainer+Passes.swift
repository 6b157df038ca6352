import Kernels

extension GPTTrainer {
    /// The whole forward and backward pass on validated token pointers; returns the mean loss.
    func run(_ p: ParameterBuffer, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>) -> Float {
        let d = dims
        if !gradientsAreZero {
            for (i, g) in gradients.enumerated() {
                if let g { zeroFill(g, count: layout.blocks[i].range.count) }
            }
        }
        gradientsAreZero = false
        forwardToFinalNorm(p, tokens: tokens)
        let loss = headAndLoss(p, targets: targets)
        guard let lowest = lowestTrainableBlock else { return loss }

        let lnBlock = d.layers + 1
        let ln = p.base + layout.blocks[lnBlock].range.lowerBound
        dres.update(repeating: 0, count: d.rows * d.channels)
        layerNormBackward(
            dinp: lowest < lnBlock ? dres : nil, dweight: grad(lnBlock, ln - p.base),
            dbias: grad(lnBlock, ln - p.base + d.channels), dout: dln, inp: residuals[residuals.count - 1],
            weight: ln, mean: lnfMean, rstd: lnfRstd, rows: d.rows, dim: d.channels)
        // A skipped layer is the identity, so dres passes through it unchanged.
        for l in (storedFrom..<d.layers).reversed() where !skippedLayers.contains(l) {
            layerBackward(p, l, needInputGradient: lowest < l + 1)
        }
        if lowest == 0 {
            let wte = layout.blocks[0].range.lowerBound
            embeddingBackward(dwte: grad(0, wte), dwpe: grad(0, wte + d.vocab * d.channels), dout: dres,
                              tokens: tokens, batch: d.batch, seq: d.seq, channels: d.channels)
        }
        return loss
    }

    /// Embeddings, then the frozen layers without storing, then the stored layers, then ln_f into `lnf`.
    func forwardToFinalNorm(_ p: ParameterBuffer, tokens: UnsafePointer<Int32>) {
        let d = dims
        if let scratch = frozenScratch, let spare = spareResidual {
            let start = residuals[0]
            ForwardPass.embed(p, tokens: tokens, out: start, d)
            let result = ForwardPass.layersWithoutStoring(p, 0..<storedFrom, skipping: skippedLayers, input: start,
                                                          spare: spare, scratch, d)
            if result != start { start.update(from: result, count: d.rows * d.channels) }
        } else {
            ForwardPass.embed(p, tokens: tokens, out: residuals[0], d)
        }
        for l in storedFrom..<d.layers {
            guard let a = stored[l - storedFrom] else { continue }  // skipped: its output buffer is its input
            ForwardPass.layer(p, l, input: residuals[l - storedFrom], a, d)
        }
        ForwardPass.finalNorm(p, input: residuals[residuals.count - 1], out: lnf, mean: lnfMean, rstd: lnfRstd, d)
    }

    /// The tied head and cross-entropy in row chunks; when training, also d(lnf) into `dln` and
    /// the head's share of wte's gradient (when block 0 trains). Returns the mean loss.
    func headAndLoss(_ p: ParameterBuffer, targets: UnsafePointer<Int32>) -> Float {
        let d = dims, c = d.channels
        var counted = 0
        for r in 0..<d.rows where targets[r] >= 0 { counted += 1 }
        let training = lowestTrainableBlock != nil
        let scale: Float? = training ? (counted > 0 ? 1 / Float(counted) : 0) : nil
        let wte = p.base + layout.blocks[0].range.lowerBound
        let dwte = grad(0, layout.blocks[0].range.lowerBound)
        var total = 0.0
        var r0 = 0
        while r0 < d.rows {
            let rows = min(d.headChunkRows, d.rows - r0)
            tiedHeadForward(logits: logits, inp: lnf + r0 * c, wte: wte, rows: rows, dim: c, vocab: d.vocab)
            total += crossEntropy(logits: logits, targets: targets + r0, rows: rows, vocab: d.vocab, gradientScale: scale).sum
            if training {
                tiedHeadBackward(dinp: dln + r0 * c, dwte: dwte, dlogits: logits, inp: lnf + r0 * c, wte: wte,
                                 rows: rows, dim: c, vocab: d.vocab)
            }
            r0 += rows
        }
        return counted > 0 ? Float(total / Double(counted)) : 0
    }

    /// Backward through layer `l`: `dres` holds d(loss)/d(layer output) on entry and d(loss)/d(layer input)
    /// on exit (the latter only when `needInputGradient`). Weight gradients only when the layer trains.
    func layerBackward(_ p: ParameterBuffer, _ l: Int, needInputGradient: Bool) {
        let d = dims, rows = d.rows, c = d.channels
        let a = stored[l - storedFrom]!, input = residuals[l - storedFrom]
        let w = LayerWeights(base: p.base, layout: layout, layer: l)
        let block = l + 1
        func g(_ t: LayerTensor) -> UnsafeMutablePointer<Float>? { grad(block, w[t] - p.base) }
        // MLP: out = res2 + gelu(ln2(res2) Wfc + bfc) Wproj + bproj; the GELU output is rebuilt from its tanh.
        let fcProjInput: UnsafeMutablePointer<Float>? = g(.fcProjWeight) == nil ? nil : a.fchGelu
        if let fcProjInput { geluFromTanh(out: fcProjInput, inp: a.fch, tanh: a.fchTanh!, count: rows * 4 * c) }
        matmulBackward(dinp: dfch, dweight: g(.fcProjWeight), dbias: g(.fcProjBias), dout: dres, inp: fcProjInput ?? a.fch,
                       weight: w[.fcProjWeight], rows: rows, inDim: 4 * c, outDim: c)
        geluBackward(dinp: dfch, dout: dfch, inp: a.fch, tanh: a.fchTanh!, count: rows * 4 * c)
        matmulBackward(dinp: dln, dweight: g(.fcWeight), dbias: g(.fcBias), dout: dfch, inp: a.ln2,
                       weight: w[.fcWeight], rows: rows, inDim: c, outDim: 4 * c)
        layerNormBackward(dinp: dres, dweight: g(.ln2Weight), dbias: g(.ln2Bias), dout: dln, inp: a.res2,
                          weight: w[.ln2Weight], mean: a.ln2Mean, rstd: a.ln2Rstd, rows: rows, dim: c)
        // Attention: res2 = input + attn(ln1(input)) Wproj + bproj
        matmulBackward(dinp: datty, dweight: g(.attnProjWeight), dbias: g(.attnProjBias), dout: dres, inp: a.atty,
                       weight: w[.attnProjWeight], rows: rows, inDim: c, outDim: c)
        attentionBackward(dqkv: dqkv, dout: datty, qkv: a.qkv, att: a.att, scratch: dAttention, scratchMaps: dims.workerSlots,
                          batch: d.batch, seq: d.seq, channels: c, heads: d.heads)
        matmulBackward(dinp: dln, dweight: g(.qkvWeight), dbias: g(.qkvBias), dout: dqkv, inp: a.ln1,
                       weight: w[.qkvWeight], rows: rows, inDim: c, outDim: 3 * c)
        layerNormBackward(dinp: needInputGradient ? dres : nil, dweight: g(.ln1Weight), dbias: g(.ln1Bias),
                          dout: dln, inp: input, weight: w[.ln1Weight], mean: a.ln1Mean, rstd: a.ln1Rstd,
                          rows: rows, dim: c)
    }
}
