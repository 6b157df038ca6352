import Kernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Owns zero-filled Float buffers for activations, gradients and optimizer state, allocated once and
/// freed together. They come from `calloc`, so large buffers are lazily zeroed pages from the kernel
/// and creating a trainer for one client visit costs little until the memory is used.
final class FloatStorage {
    private var buffers: [UnsafeMutableRawPointer] = []
    /// Floats allocated so far.
    private(set) var floatCount = 0

    /// A zero-filled buffer of `count` floats that lives as long as this storage, starting on a
    /// 64-byte cache line: calloc's large blocks start 16 bytes into a page, and then every 64-byte
    /// vector load of the kernels (and of OpenBLAS's packing) would straddle two lines.
    func make(_ count: Int) -> UnsafeMutablePointer<Float> {
        let floats = max(count, 1) + Self.lineFloats
        guard let raw = calloc(floats, MemoryLayout<Float>.stride) else {
            fatalError("out of memory allocating \(count) floats")
        }
        buffers.append(raw)
        floatCount += count
        let start = (Int(bitPattern: raw) + 63) & ~63
        return UnsafeMutableRawPointer(bitPattern: start)!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// One cache line in floats: the most `make` skips to align a buffer.
    static let lineFloats = 64 / MemoryLayout<Float>.stride

    deinit { for b in buffers { free(b) } }
}

/// The sizes one forward/backward pass works with.
struct Dims {
    let config: GPTConfig
    let batch, seq, channels, vocab, heads, layers: Int
    let eps: Float
    var rows: Int { batch * seq }

    init(config: GPTConfig, batch: Int, sequence: Int) {
        precondition(batch > 0 && sequence > 0, "batch and sequence must be positive")
        precondition(sequence <= config.contextLength,
                     "sequence \(sequence) is longer than the context length \(config.contextLength)")
        precondition(config.attentionWidth > 0 && config.heads % config.keyValueHeads == 0, "invalid attention heads")
        self.config = config
        self.batch = batch; self.seq = sequence; channels = config.embedDim; vocab = config.vocabSize
        heads = config.heads; layers = config.layers; eps = config.layerNormEpsilon
    }

    /// Whether key/value heads are shared by groups of query heads (Llama's grouped-query attention).
    var groupsQueries: Bool { config.keyValueHeads != config.heads }

    /// Per-thread scratch slots (attention maps) to allocate: the BLAS thread count now, at least 2.
    let workerSlots = max(2, BLAS.threads)

    /// Rows of logits computed at once, as `ActivationMemory.headChunkRows` says.
    var headChunkRows: Int { Int(ActivationMemory.headChunkRows(rows: Double(rows), vocab: vocab, width: channels)) }
}
