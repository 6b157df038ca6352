// Grouped-query attention (Llama's num_key_value_heads < num_attention_heads) on top of the fused
// multi-head attention: the kv heads are repeated into attention's packed [q | k | v] layout before it,
// and the gradients of the copies summed back after it, as Hugging Face's repeat_kv does in torch.

/// Rows per worker such that each moves at least about 16K floats.
@inline(__always)
private func groupedRowsPerWorker(_ rowWidth: Int) -> Int { max(1, (1 << 14) / max(rowWidth, 1)) }

/// `expanded` [rows, 3 * heads * headDim] from `packed` [rows, (heads + 2 * kvHeads) * headDim]: q copied, and
/// each k/v head repeated heads/kvHeads times (query head h uses kv head h / (heads / kvHeads), as HF repeat_kv).
public func repeatKeyValues(
    expanded: UnsafeMutablePointer<Float>, packed: UnsafePointer<Float>, rows: Int, heads: Int, kvHeads: Int, headDim: Int
) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "\(heads) attention heads do not split into \(kvHeads) kv groups")
    let group = heads / kvHeads, c = heads * headDim
    let packedWidth = (heads + 2 * kvHeads) * headDim, expandedWidth = 3 * c
    Parallel.forRanges(rows, minimumPerWorker: groupedRowsPerWorker(expandedWidth)) { _, range in
        for r in range {
            let source = packed + r * packedWidth, target = expanded + r * expandedWidth
            guard group > 1 else {
                target.update(from: source, count: expandedWidth)
                continue
            }
            target.update(from: source, count: c)
            for h in 0..<heads {
                let kv = h / group
                (target + c + h * headDim).update(from: source + (heads + kv) * headDim, count: headDim)
                (target + 2 * c + h * headDim).update(from: source + (heads + kvHeads + kv) * headDim, count: headDim)
            }
        }
    }
}

/// Backward of `repeatKeyValues`: `packed` [rows, (heads + 2 * kvHeads) * headDim] is overwritten with dq copied
/// and, for each kv head, the sum of the dk/dv of its query group in group order.
public func sumKeyValueGradients(
    packed: UnsafeMutablePointer<Float>, expanded: UnsafePointer<Float>, rows: Int, heads: Int, kvHeads: Int, headDim: Int
) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "\(heads) attention heads do not split into \(kvHeads) kv groups")
    let group = heads / kvHeads, c = heads * headDim
    let packedWidth = (heads + 2 * kvHeads) * headDim, expandedWidth = 3 * c
    Parallel.forRanges(rows, minimumPerWorker: groupedRowsPerWorker(expandedWidth)) { _, range in
        for r in range {
            let source = expanded + r * expandedWidth, target = packed + r * packedWidth
            guard group > 1 else {
                target.update(from: source, count: expandedWidth)
                continue
            }
            target.update(from: source, count: c)
            for part in 1...2 {  // k, then v
                for kv in 0..<kvHeads {
                    let sum = target + (heads + (part - 1) * kvHeads + kv) * headDim
                    let first = source + part * c + kv * group * headDim
                    sum.update(from: first, count: headDim)
                    for g in 1..<group { addVectors(sum, sum, first + g * headDim, headDim) }
                }
            }
        }
    }
}
