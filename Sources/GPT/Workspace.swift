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
    let batch, seq, channels, vocab, heads, layers: Int
    let eps: Float
    var rows: Int { batch * seq }

    init(config: GPTConfig, batch: Int, sequence: Int) {
        precondition(batch > 0 && sequence > 0, "batch and sequence must be positive")
        precondition(sequence <= config.contextLength,
                     "sequence \(sequence) is longer than the context length \(config.contextLength)")
        precondition(config.embedDim % config.heads == 0, "n_embd must be divisible by n_head")
        self.batch = batch; self.seq = sequence; channels = config.embedDim; vocab = config.vocabSize
        heads = config.heads; layers = config.layers; eps = config.layerNormEpsilon
    }

    /// Per-thread scratch slots (attention maps) to allocate: the BLAS thread count now, at least 2.
    let workerSlots = max(2, BLAS.threads)

    /// Rows of logits computed at once: the whole batch unless that would exceed about 32 MB.
    var headChunkRows: Int { max(1, min(rows, (8 << 20) / vocab)) }
}

/// Pointers to one transformer layer's forward activations.
struct LayerActivations {
    var ln1, ln1Mean, ln1Rstd, qkv, atty, att, res2, ln2, ln2Mean, ln2Rstd, fch, fchGelu, out: UnsafeMutablePointer<Float>
    /// The GELU's tanh term, kept for the backward pass (nil when not keeping).
    var fchTanh: UnsafeMutablePointer<Float>?
    /// Whether `att` keeps every head's map, or is `attMaps` per-thread scratch maps.
    var keepMaps: Bool
    var attMaps: Int

    /// Buffers for one layer. `keepForBackward` stores every head's attention map and the GELU's tanh
    /// term, and writes the GELU output to `geluScratch` (shared by the layers, recomputed in backward);
    /// otherwise per-thread attention maps are reused and GELU runs in place. `out` is given (it is the
    /// next layer's input in the residual stream).
    init(storage: FloatStorage, dims d: Dims, out: UnsafeMutablePointer<Float>, keepForBackward: Bool,
         geluScratch: UnsafeMutablePointer<Float>? = nil) {
        let n = d.rows * d.channels
        ln1 = storage.make(n); ln1Mean = storage.make(d.rows); ln1Rstd = storage.make(d.rows)
        qkv = storage.make(3 * n); atty = storage.make(n)
        keepMaps = keepForBackward
        attMaps = keepForBackward ? d.batch * d.heads : d.workerSlots
        att = storage.make(attMaps * d.seq * d.seq)
        res2 = storage.make(n)
        ln2 = storage.make(n); ln2Mean = storage.make(d.rows); ln2Rstd = storage.make(d.rows)
        fch = storage.make(4 * n)
        if keepForBackward {
            fchGelu = geluScratch ?? storage.make(4 * n)
            fchTanh = storage.make(4 * n)
        } else {
            fchGelu = fch
            fchTanh = nil
        }
        self.out = out
    }
}

/// Read-only views of one layer's parameters.
struct LayerWeights {
    let base: UnsafeMutablePointer<Float>
    let layout: ParameterLayout
    let layer: Int

    @inline(__always)
    subscript(_ t: LayerTensor) -> UnsafeMutablePointer<Float> {
        base + layout.offset(layer: layer, t)
    }
}
