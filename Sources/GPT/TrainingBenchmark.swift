import Determinism
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// Median training throughput of the engine, measured on random tokens.
public struct BenchmarkResult: CustomStringConvertible, Sendable {
    /// One measured case: which blocks trained, and the medians.
    public struct Case: Sendable {
        public let name: String
        public let trainableBlocks: [Int]
        public let trainableParameters: Int
        public let medianStepSeconds: Double
        public let tokensPerSecond: Double
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
            "GPT training benchmark: vocab \(c.vocabSize), context \(c.contextLength), width \(c.embedDim), layers \(c.layers), heads \(c.heads)",
            "batch \(batch) x sequence \(sequence) = \(batch * sequence) tokens/step, \(threads) BLAS thread(s), \(warmup) warm-up + \(steps) timed steps (fwd + bwd + AdamW), \(parameterCount) parameters",
        ]
        for k in cases {
            let name = k.name.padding(toLength: 24, withPad: " ", startingAt: 0)
            let tps = String(format: "%8.0f", k.tokensPerSecond), ms = String(format: "%8.1f", k.medianStepSeconds * 1000)
            lines.append("  \(name) tokens/s=\(tps)  step_ms=\(ms)  trainable=\(k.trainableParameters)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Times forward + backward + AdamW steps for full training and for one-block training.
public enum TrainingBenchmark {
    /// The default benchmark model: 6 layers, width 256, 8 heads, vocab 256, context 128.
    public static let defaultConfig = GPTConfig(vocabSize: 256, contextLength: 128, embedDim: 256, layers: 6, heads: 8)

    /// Measures (a) all blocks trainable, (b) only block 1 (the first layer), (c) only block L (the last layer).
    /// Each case reports batch*sequence / median step time. BLAS runs with `threads` threads during the run
    /// and is restored afterwards.
    public static func run(config: GPTConfig = defaultConfig, batch: Int = 8, sequence: Int = 128, threads: Int = 2,
                           warmup: Int = 3, steps: Int = 10) -> BenchmarkResult {
        let previous = BLAS.threads
        BLAS.setThreads(threads)
        defer { BLAS.setThreads(previous) }
        let layout = ParameterLayout(config: config)
        let parameters = ParameterBuffer.initialized(layout: layout, seed: 1)
        var rng = CounterRNG(seed: 1, purpose: .batches)
        let count = batch * sequence
        let inputs = (0..<count).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
        let targets = (0..<count).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
        let plans: [(String, Set<Int>)] = [
            ("full", Set(0..<layout.blockCount)),
            ("first layer (block 1)", [1]),
            ("last layer (block \(config.layers))", [config.layers]),
        ]
        var cases: [BenchmarkResult.Case] = []
        for (name, blocks) in plans {
            let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: blocks)
            let settings = AdamWSettings(learningRate: 1e-4)
            var times: [Double] = []
            for i in 0..<(warmup + max(steps, 1)) {
                let start = now()
                _ = trainer.step(parameters: parameters, inputs: inputs, targets: targets, settings: settings)
                if i >= warmup { times.append(now() - start) }
            }
            times.sort()
            let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
            cases.append(.init(name: name, trainableBlocks: blocks.sorted(), trainableParameters: trainer.gradientParameterCount,
                               medianStepSeconds: median, tokensPerSecond: Double(count) / median))
        }
        return BenchmarkResult(config: config, batch: batch, sequence: sequence, threads: threads, warmup: warmup,
                               steps: max(steps, 1), parameterCount: layout.parameterCount, cases: cases)
    }

    /// Monotonic seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
