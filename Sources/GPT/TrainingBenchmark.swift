import Determinism
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// Median training throughput of the engine, measured on random tokens.
public struct BenchmarkResult: CustomStringConvertible, Sendable {
    /// One timed step's wall-clock seconds, whole and in the two timed parts.
    public struct StepTimes: Sendable {
        public let total: Double, dense: Double, attention: Double
    }

    /// One measured case: which blocks trained, and the medians.
    public struct Case: Sendable {
        public let name: String
        public let trainableBlocks: [Int]
        public let trainableParameters: Int
        public let medianStepSeconds: Double
        public let tokensPerSecond: Double
        /// The step's work as `TrainingBenchmark.flops` counts it.
        public let flops: Double
        /// Of `flops`, the attention's (the rest is the dense layers and the head).
        public let attentionFlops: Double
        /// Each timed step's wall-clock seconds: the whole step, inside the dense layers, inside attention.
        public let stepTimes: [StepTimes]
        /// Wall-clock seconds inside the dense layers and inside attention, each the median over the
        /// timed steps like the step time: a mean moved with the one step in ten that the machine
        /// stalls (`attention-in-step.txt`, docs/PERFORMANCE.md).
        public var denseSeconds: Double { TrainingBenchmark.median(stepTimes.map(\.dense)) }
        public var attentionSeconds: Double { TrainingBenchmark.median(stepTimes.map(\.attention)) }
        /// Plain sgemm's GFLOP/s over the full step's dense products, the median of the sweeps timed
        /// right before and right after this case's steps (`SgemmReference`); nil when not run.
        public let sgemmFlopsPerSecond: Double?
        /// The median step's FLOP/s over `sgemmFlopsPerSecond`; nil without the reference.
        public let ofSgemm: Double?

        /// Attention's time per counted FLOP over the dense layers' (≤ 1: attention is no dearer).
        public var attentionCostPerFlop: Double {
            (attentionSeconds / attentionFlops) / (denseSeconds / (flops - attentionFlops))
        }

        /// FLOP per second of the median step.
        public var flopsPerSecond: Double { flops / medianStepSeconds }
    }

    public let config: GPTConfig
    public let batch: Int
    public let sequence: Int
    public let threads: Int
    public let warmup: Int
    public let steps: Int
    public let parameterCount: Int
    public let cases: [Case]

    public func `case`(_ name: String) -> Case? { cases.first { $0.name == name } }

    public var description: String {
        let c = config
        var lines = [
            "\(c.familyName) training benchmark: vocab \(c.vocabSize), context \(c.contextLength), width \(c.embedDim), layers \(c.layers), heads \(c.heads)"
                + c.family.attentionNote(c) + c.family.mlpNote(c),
            "batch \(batch) x sequence \(sequence) = \(batch * sequence) tokens/step, \(threads) BLAS thread(s), \(warmup) warm-up + \(steps) timed steps (fwd + bwd + AdamW), \(parameterCount) parameters",
        ]
        for k in cases {
            let name = k.name.padding(toLength: 24, withPad: " ", startingAt: 0)
            let tps = String(format: "%8.0f", k.tokensPerSecond), ms = String(format: "%8.1f", k.medianStepSeconds * 1000)
            var line = "  \(name) tokens/s=\(tps)  step_ms=\(ms)  GFLOP/s=\(String(format: "%7.1f", k.flopsPerSecond / 1e9))"
            if let ofSgemm = k.ofSgemm { line += "  of_sgemm=\(String(format: "%5.3f", ofSgemm))" }
            line += "  GFLOP=\(String(format: "%.2f", k.flops / 1e9))  trainable=\(k.trainableParameters)"
            if let sgemm = k.sgemmFlopsPerSecond { line += "  sgemm_GFLOP/s=\(String(format: "%.1f", sgemm / 1e9))" }
            lines.append(line)
            let dense = (k.flops - k.attentionFlops) / k.denseSeconds / 1e9, attention = k.attentionFlops / k.attentionSeconds / 1e9
            lines.append("    inside the step: dense layers GFLOP/s=\(String(format: "%6.1f", dense))  attention GFLOP/s=\(String(format: "%6.1f", attention))"
                         + "  attention_cost_per_flop=\(String(format: "%4.2f", k.attentionCostPerFlop)) (target <= 1)")
        }
        return lines.joined(separator: "\n")
    }

    /// Every timed step of each case in milliseconds, three lines a case (`fedcybgd bench --per-step`):
    /// the whole step, the dense layers and attention, in the order the steps ran.
    public var perStepDescription: String {
        cases.flatMap { k in
            [("step_ms", \StepTimes.total), ("dense_ms", \StepTimes.dense), ("attention_ms", \StepTimes.attention)].map { label, part in
                "  \(k.name) \(label):" + k.stepTimes.map { String(format: " %.2f", $0[keyPath: part] * 1000) }.joined()
            }
        }.joined(separator: "\n")
    }
}

/// Times forward + backward + AdamW steps for full training and for one-block training.
public enum TrainingBenchmark {
    /// The three cases: every block trains, only the first layer, only the last layer.
    public enum CaseKind: String, CaseIterable, Sendable {
        case full, first, last
    }

    /// Reference sweeps timed before and after each case's steps (`run(sgemmReference:)`).
    public static let referenceSweeps = 3

    /// The default benchmark model: 6 layers, width 256, 8 heads, vocab 256, context 128.
    public static let defaultConfig = GPTConfig(vocabSize: 256, contextLength: 128, embedDim: 256, layers: 6, heads: 8)

    /// Measures (a) all blocks trainable, (b) only block 1 (the first layer), (c) only block L (the last layer).
    /// Each case reports batch*sequence / median step time. BLAS runs with `threads` threads during the run
    /// and is restored afterwards. With `sgemmReference`, `sweeps` `SgemmReference` sweeps are timed
    /// right before each case's warm-up and right after its timed steps, and each case reports its
    /// median step's fraction of their median rate.
    public static func run(config: GPTConfig = defaultConfig, batch: Int = 8, sequence: Int = 128, threads: Int = 2,
                           warmup: Int = 3, steps: Int = 10, sgemmReference: Bool = false, sweeps: Int = referenceSweeps,
                           cases selected: Set<CaseKind> = Set(CaseKind.allCases)) -> BenchmarkResult {
        let previous = BLAS.threads
        BLAS.setThreads(threads)
        defer { BLAS.setThreads(previous) }
        let layout = ParameterLayout(config: config)
        let parameters = ParameterBuffer.initialized(layout: layout, seed: 1)
        var rng = CounterRNG(seed: 1, purpose: .batches)
        let count = batch * sequence
        let inputs = (0..<count).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
        let targets = (0..<count).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
        let reference = sgemmReference ? SgemmReference(config: config, batch: batch, sequence: sequence) : nil
        let plans: [(String, Set<Int>)] = CaseKind.allCases.filter(selected.contains).map { kind in
            switch kind {
            case .full: ("full", Set(0..<layout.blockCount))
            case .first: ("first layer (block 1)", [1])
            case .last: ("last layer (block \(config.layers))", [config.layers])
            }
        }
        let cases = plans.map { name, blocks in
            timeCase(name: name, blocks: blocks, config: config, batch: batch, sequence: sequence, threads: threads,
                     warmup: warmup, steps: max(steps, 1), parameters: parameters, inputs: inputs, targets: targets,
                     reference: reference, sweeps: sweeps)
        }
        return BenchmarkResult(config: config, batch: batch, sequence: sequence, threads: threads, warmup: warmup,
                               steps: max(steps, 1), parameterCount: layout.parameterCount, cases: cases)
    }

    private static func timeCase(name: String, blocks: Set<Int>, config: GPTConfig, batch: Int, sequence: Int,
                                 threads: Int, warmup: Int, steps: Int, parameters: ParameterBuffer,
                                 inputs: [Int32], targets: [Int32], reference: SgemmReference?,
                                 sweeps: Int) -> BenchmarkResult.Case {
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: blocks)
        let settings = AdamWSettings(learningRate: 1e-4)
        let work = flopsByPart(config: config, batch: batch, sequence: sequence, trainableBlocks: blocks)
        let flops = work.dense + work.attention
        var times: [BenchmarkResult.StepTimes] = [], sweepRates: [Double] = []
        func sweep() {
            guard let reference else { return }
            for _ in 0..<sweeps { sweepRates.append(reference.flops / reference.sweepSeconds(threads: threads)) }
        }
        defer { PhaseTimes.enabled = false }
        sweep()
        for i in 0..<(warmup + steps) {
            if i == warmup { PhaseTimes.enabled = true }
            PhaseTimes.reset()
            let start = now()
            _ = trainer.step(parameters: parameters, inputs: inputs, targets: targets, settings: settings)
            if i >= warmup {
                times.append(.init(total: now() - start, dense: PhaseTimes.seconds(.dense),
                                       attention: PhaseTimes.seconds(.attention)))
            }
        }
        PhaseTimes.enabled = false
        sweep()
        let median = Self.median(times.map(\.total))
        return .init(name: name, trainableBlocks: blocks.sorted(), trainableParameters: trainer.gradientParameterCount,
                     medianStepSeconds: median, tokensPerSecond: Double(batch * sequence) / median,
                     flops: flops, attentionFlops: work.attention,
                     stepTimes: times,
                     sgemmFlopsPerSecond: reference == nil ? nil : Self.median(sweepRates),
                     ofSgemm: reference == nil ? nil : flops / median / Self.median(sweepRates))
    }

    /// The floating-point operations of one training step (forward + backward; AdamW, the embedding
    /// lookup and the element-wise kernels are not counted), as docs/PERFORMANCE.md counts them and
    /// PyTorch's eager mode performs them:
    ///
    /// - a transformer layer's forward pass: its four matmuls 24·BT·C² (c_attn 6, c_proj 2, c_fc 8,
    ///   mlp c_proj 8), plus attention 4·B·T²·C (QKᵀ and PV over the full T×T, as PyTorch's eager
    ///   attention computes it; our causal chunks skip part of it);
    /// - the tied head's forward pass: 2·BT·C·V;
    /// - backward, per layer: nothing below the lowest trained block; input gradients only above it
    ///   (the matmuls 1x forward; attention, which has no weights, 2x); input and weight gradients in
    ///   a trained layer (2x forward, so a full step is 3x forward). The head's backward is its input
    ///   gradient (1x) when any block trains, plus the tied embedding's weight gradient (another 1x)
    ///   when the embedding (block 0) trains.
    ///
    /// Blocks are numbered as in `ParameterLayout`: 0 the embeddings, 1...L the layers, L+1 the final
    /// norm. The default bench config gives 31.8 GFLOP for the full step, 14.2 for the last layer and
    /// 23.6 for the first layer.
    public static func flops(config: GPTConfig, batch: Int, sequence: Int, trainableBlocks: Set<Int>) -> Double {
        let parts = flopsByPart(config: config, batch: batch, sequence: sequence, trainableBlocks: trainableBlocks)
        return parts.dense + parts.attention
    }

    /// `flops(...)` split into the dense layers with the head, and attention.
    public static func flopsByPart(config: GPTConfig, batch: Int, sequence: Int,
                                   trainableBlocks: Set<Int>) -> (dense: Double, attention: Double) {
        let bt = Double(batch * sequence), t = Double(sequence), c = Double(config.embedDim), v = Double(config.vocabSize)
        let matmuls = 2 * bt * layerWeightsPerToken(config)
        let attention = 4 * bt * t * Double(config.attentionWidth), head = 2 * bt * c * v
        let layers = Double(config.layers)
        guard let lowest = trainableBlocks.min() else { return (layers * matmuls + head, layers * attention) }
        let headBlock = ParameterLayout(config: config).headBlock
        var dense = head * (1 + 1 + (trainableBlocks.contains(headBlock) ? 1 : 0)), attentionTotal = 0.0
        for layer in 0..<config.layers {
            let block = layer + 1
            dense += matmuls
            attentionTotal += attention
            if trainableBlocks.contains(block) {
                dense += 2 * matmuls
                attentionTotal += 2 * attention
            } else if block > lowest {
                dense += matmuls
                attentionTotal += 2 * attention
            }
        }
        return (dense, attentionTotal)
    }

    /// Multiply-adds per token of one layer's dense products: GPT-2's four projections (12 C²),
    /// Llama's q/k/v, o, gate/up and down.
    static func layerWeightsPerToken(_ config: GPTConfig) -> Double {
        config.family.matmulSizes(config).reduce(0) { $0 + Double($1.input * $1.output) }
    }

    /// One matrix product of the model: row-major C[m, n] = op(A) op(B), and how many times a full
    /// training step runs it.
    public struct MatmulShape: Sendable, Equatable {
        public let name: String
        public let m: Int, n: Int, k: Int
        public let transA: Bool, transB: Bool
        public let count: Int
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(count) }
    }

    /// The dense products of a full training step: each layer's four projections forward, their input
    /// gradients and weight gradients (times `layers`), and the tied head's logits, input gradient and
    /// embedding gradient. Their FLOPs are those of `flops(...)` for full training, minus attention.
    public static func matmulShapes(config: GPTConfig, batch: Int, sequence: Int) -> [MatmulShape] {
        let bt = batch * sequence, c = config.embedDim, l = config.layers, v = config.vocabSize
        var shapes: [MatmulShape] = []
        for (name, input, output, linear) in config.family.matmulSizes(config) {
            if linear {  // weight [out, in]: y = x Wᵀ, dX = dY W, dW = dYᵀ X
                shapes.append(.init(name: "\(name) fwd", m: bt, n: output, k: input, transA: false, transB: true, count: l))
                shapes.append(.init(name: "\(name) dX", m: bt, n: input, k: output, transA: false, transB: false, count: l))
                shapes.append(.init(name: "\(name) dW", m: output, n: input, k: bt, transA: true, transB: false, count: l))
                continue
            }
            shapes.append(.init(name: "\(name) fwd", m: bt, n: output, k: input, transA: false, transB: false, count: l))
            shapes.append(.init(name: "\(name) dX", m: bt, n: input, k: output, transA: false, transB: true, count: l))
            shapes.append(.init(name: "\(name) dW", m: input, n: output, k: bt, transA: true, transB: false, count: l))
        }
        shapes.append(.init(name: "head fwd", m: bt, n: v, k: c, transA: false, transB: true, count: 1))
        shapes.append(.init(name: "head dX", m: bt, n: c, k: v, transA: false, transB: false, count: 1))
        shapes.append(.init(name: "head dW", m: v, n: c, k: bt, transA: true, transB: false, count: 1))
        return shapes
    }

    /// FLOP/s of plain `cblas_sgemm` (OpenBLAS's own threading with `threads` threads) over
    /// `matmulShapes`: total FLOPs / total time, each shape weighted by how often a full step runs it.
    /// Each shape is timed on its own (after one untimed call) until `minSeconds` have passed (at
    /// least 3 and at most 10,000 calls); its median call counts. `fedcybgd bench --sgemm-only`
    /// prints it; the training cases time `SgemmReference` sweeps around their steps instead.
    /// With `split`, the engine's own `parallelSgemm` at the same shapes instead.
    public static func sgemmRate(config: GPTConfig, batch: Int, sequence: Int, threads: Int, minSeconds: Double = 0.1,
                                 split: Bool = false) -> Double {
        SgemmReference(config: config, batch: batch, sequence: sequence)
            .standaloneRate(threads: threads, minSeconds: minSeconds, split: split)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted(), n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// Monotonic seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
