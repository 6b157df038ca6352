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

    /// A zero-filled buffer of `count` floats that lives as long as this storage.
    func make(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard let raw = calloc(max(count, 1), MemoryLayout<Float>.stride) else {
            fatalError("out of memory allocating \(count) floats")
        }
        buffers.append(raw)
        floatCount += count
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

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

    /// Rows of logits computed at once: the whole batch unless that would exceed about 32 MB.
    var headChunkRows: Int { max(1, min(rows, (8 << 20) / vocab)) }
}
