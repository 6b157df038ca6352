import CKernels

// The Llama MLP's gated activation: silu(gate) * up, with gate and up the two halves of one fused
// projection's output row. The arithmetic is in CKernels; here rows are split across threads.

/// Rows per worker such that each gets at least about 16K elements.
@inline(__always)
private func swigluRowsPerWorker(_ hidden: Int) -> Int { max(1, (1 << 14) / max(hidden, 1)) }

/// `out[r, i] = silu(gate[r, i]) * up[r, i]`, `silu(x) = x * sigmoid(x)`, where `gateUp` is [rows, 2 * hidden]
/// with the gate in columns 0..<hidden and up in hidden..<2 * hidden. `out` is [rows, hidden].
public func swigluForward(out: UnsafeMutablePointer<Float>, gateUp: UnsafePointer<Float>, rows: Int, hidden: Int) {
    Parallel.forRanges(rows, minimumPerWorker: swigluRowsPerWorker(hidden)) { _, range in
        fk_swiglu_forward(out, gateUp, range.lowerBound, range.upperBound, hidden)
    }
}

/// Backward of `swigluForward`: `dgateUp` [rows, 2 * hidden] is overwritten from `dout` [rows, hidden].
public func swigluBackward(
    dgateUp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, gateUp: UnsafePointer<Float>, rows: Int, hidden: Int
) {
    Parallel.forRanges(rows, minimumPerWorker: swigluRowsPerWorker(hidden)) { _, range in
        fk_swiglu_backward(dgateUp, dout, gateUp, range.lowerBound, range.upperBound, hidden)
    }
}
