import Kernels

/// The keys and values of every position decoded so far, per layer, for one sequence (batch 1), and
/// causal attention of new query rows over them.
///
/// Per layer, keys and values are [capacity, kvHeads * headDim] row-major: Llama's keys after RoPE, and
/// only the key/value heads (query head h reads kv head h / (heads / kvHeads), as transformers' repeat_kv),
/// never the repeated copies. Capacity starts small and doubles up to n_positions as positions arrive, so
/// a model with a long context costs memory only for the text actually decoded.
final class KeyValueCache {
    let config: GPTConfig
    /// Floats per cached row: kvHeads * headDim.
    let rowWidth: Int
    /// Positions 0..<count hold keys and values.
    private(set) var count = 0
    /// Positions the buffers hold now (at most n_positions).
    private(set) var capacity = 0
    private var keys: [UnsafeMutablePointer<Float>] = []
    private var values: [UnsafeMutablePointer<Float>] = []
    /// Per-worker attention scores, `workerSlots` maps of [maxQueryRows, capacity].
    private var scores: UnsafeMutablePointer<Float>?
    /// The most query rows one `attend` call takes.
    let maxQueryRows: Int
    /// Worker threads `attend` splits the heads across (their score maps are allocated).
    let workerSlots = max(2, BLAS.threads)

    init(config: GPTConfig, maxQueryRows: Int) {
        self.config = config
        self.maxQueryRows = maxQueryRows
        rowWidth = config.keyValueHeads * config.headDim
    }

    deinit { release() }

    /// Forgets every position (the buffers are kept).
    func clear() { count = 0 }

    /// Makes room for positions 0..<positions (at most n_positions), keeping what is cached.
    func reserve(_ positions: Int) {
        precondition(positions <= config.contextLength, "\(positions) positions exceed n_positions \(config.contextLength)")
        guard positions > capacity else { return }
        var grown = max(capacity, 64)
        while grown < positions { grown *= 2 }
        grown = min(grown, config.contextLength)
        let layerFloats = grown * rowWidth
        let newKeys = (0..<config.layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: layerFloats) }
        let newValues = (0..<config.layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: layerFloats) }
        for l in 0..<keys.count {
            newKeys[l].update(from: keys[l], count: count * rowWidth)
            newValues[l].update(from: values[l], count: count * rowWidth)
        }
        release()
        keys = newKeys; values = newValues
        scores = .allocate(capacity: workerSlots * maxQueryRows * grown)
        capacity = grown
    }

    private func release() {
        for buffer in keys + values { buffer.deallocate() }
        keys = []; values = []
        scores?.deallocate(); scores = nil
    }

    /// Stores layer `layer`'s keys and values for positions count..<count+rows, taken from the packed
    /// rows `packed` [rows, stride]: keys at column `keyColumn`, values right after them.
    func store(layer: Int, packed: UnsafePointer<Float>, stride: Int, keyColumn: Int, rows: Int) {
        precondition(count + rows <= capacity, "key/value cache holds \(capacity) positions; reserve first")
        for r in 0..<rows {
            let source = packed + r * stride + keyColumn, row = (count + r) * rowWidth
            (keys[layer] + row).update(from: source, count: rowWidth)
            (values[layer] + row).update(from: source + rowWidth, count: rowWidth)
        }
    }

    /// Stores the keys and values of packed q/k/v rows [rows, qkvWidth] (keys after the query heads,
    /// values after the keys, in both families' layouts) and attends from their queries into `out`
    /// [rows, heads * headDim]: one layer's attention step in the cached decoder.
    func storeAndAttend(layer: Int, qkv: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        let c = config
        store(layer: layer, packed: qkv, stride: c.qkvWidth, keyColumn: c.attentionWidth, rows: rows)
        attend(layer: layer, queries: qkv, queryStride: c.qkvWidth, rows: rows, out: out)
    }

    /// Marks `rows` more positions as cached, once every layer has stored them.
    func advance(by rows: Int) {
        precondition(count + rows <= capacity, "key/value cache holds \(capacity) positions")
        count += rows
    }

    /// `out[rows, heads * headDim]` = softmax(Q K^T / sqrt(headDim), causal) V for query rows at positions
    /// count..<count+rows (already stored with `store`, not yet `advance`d): query row r sees keys
    /// 0...count+r. `queries` is [rows, queryStride] with query head h in columns h*headDim..<(h+1)*headDim.
    func attend(layer: Int, queries: UnsafePointer<Float>, queryStride: Int, rows: Int, out: UnsafeMutablePointer<Float>) {
        precondition(rows <= maxQueryRows && count + rows <= capacity, "attention over more rows than the cache holds")
        let c = config, headDim = c.headDim, group = c.heads / c.keyValueHeads, outStride = c.attentionWidth
        let keys = self.keys[layer], values = self.values[layer], length = count + rows, first = count
        let scale = 1 / Float(headDim).squareRoot()
        let mapFloats = maxQueryRows * capacity, scores = self.scores!, rowWidth = self.rowWidth
        Parallel.forRangesCallingBLAS(c.heads, maxWorkers: workerSlots) { worker, range in
            let map = scores + worker * mapFloats
            for h in range {
                let kvColumn = (h / group) * headDim
                sgemm(transA: false, transB: true, m: rows, n: length, k: headDim, alpha: scale,
                      a: queries + h * headDim, lda: queryStride, b: keys + kvColumn, ldb: rowWidth,
                      beta: 0, c: map, ldc: length)
                // The causal mask: softmax up to the row's own position, zeros after it.
                for r in 0..<rows { softmaxRow(map + r * length, count: first + r + 1, length: length) }
                sgemm(transA: false, transB: false, m: rows, n: headDim, k: length,
                      a: map, lda: length, b: values + kvColumn, ldb: rowWidth,
                      beta: 0, c: out + h * headDim, ldc: outStride)
            }
        }
    }
}
