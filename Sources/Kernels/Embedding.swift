// Token + position embeddings (token embeddings alone for models with rotary positions).

/// `out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]`, or the token rows alone when `wpe` is nil.
public func embeddingForward(
    out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
    wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>?, batch: Int, seq: Int, channels: Int
) {
    for b in 0..<batch {
        for t in 0..<seq {
            let row = b * seq + t, token = wte + Int(tokens[row]) * channels
            if let wpe {
                addVectors(out + row * channels, token, wpe + t * channels, channels)
            } else {
                (out + row * channels).update(from: token, count: channels)
            }
        }
    }
}

/// Backward of `embeddingForward`: scatter-adds `dout` into the rows of `dwte` and `dwpe` (either may be nil).
/// With `vocabRows`, `dwte` holds only those rows of the token embedding (starting at its first) and
/// tokens outside them add nothing to it: an embedding trained in vocabulary shards.
public func embeddingBackward(
    dwte: UnsafeMutablePointer<Float>?, dwpe: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
    tokens: UnsafePointer<Int32>, batch: Int, seq: Int, channels: Int, vocabRows: Range<Int>? = nil
) {
    for b in 0..<batch {
        for t in 0..<seq {
            let row = b * seq + t, g = dout + row * channels, token = Int(tokens[row])
            if let dwte, vocabRows?.contains(token) ?? true {
                let w = dwte + (token - (vocabRows?.lowerBound ?? 0)) * channels
                addVectors(w, w, g, channels)
            }
            if let dwpe {
                let p = dwpe + t * channels
                addVectors(p, p, g, channels)
            }
        }
    }
}
