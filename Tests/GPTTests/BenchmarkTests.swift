import Kernels
import XCTest
@testable import GPT

/// The benchmark's plumbing on a tiny model (speed itself is measured by the bench command, not by tests).
final class BenchmarkTests: XCTestCase {
    func testBenchmarkRunsAllThreeCases() {
        let config = GPTConfig(vocabSize: 17, contextLength: 8, embedDim: 8, layers: 2, heads: 2)
        let result = TrainingBenchmark.run(config: config, batch: 2, sequence: 8, threads: 1, warmup: 1, steps: 3)
        XCTAssertEqual(result.cases.map(\.name), ["full", "first layer (block 1)", "last layer (block 2)"])
        XCTAssertEqual(result.cases.map(\.trainableBlocks), [[0, 1, 2, 3], [1], [2]])
        for c in result.cases { XCTAssertGreaterThan(c.tokensPerSecond, 0) }
        XCTAssertTrue(result.description.contains("tokens/s="))
        XCTAssertTrue(result.description.contains("width 8"))
    }

    /// The parts' times are medians over the timed steps, like the step's, so one stalled step cannot
    /// move them; `--per-step` prints every step's three times.
    func testPartTimesAreMediansOfEachTimedStep() {
        let config = GPTConfig(vocabSize: 17, contextLength: 8, embedDim: 8, layers: 2, heads: 2)
        let result = TrainingBenchmark.run(config: config, batch: 2, sequence: 8, threads: 1, warmup: 0, steps: 5, cases: [.full])
        let full = result.cases[0]
        XCTAssertEqual(full.stepTimes.count, 5)
        for step in full.stepTimes {
            XCTAssertGreaterThan(step.dense, 0)
            XCTAssertGreaterThan(step.attention, 0)
            XCTAssertLessThanOrEqual(step.dense + step.attention, step.total, "both parts are inside their step")
        }
        XCTAssertEqual(full.medianStepSeconds, full.stepTimes.map(\.total).sorted()[2])
        XCTAssertEqual(full.denseSeconds, full.stepTimes.map(\.dense).sorted()[2])
        XCTAssertEqual(full.attentionSeconds, full.stepTimes.map(\.attention).sorted()[2])
        let lines = result.perStepDescription.split(separator: "\n")
        XCTAssertEqual(lines.map { $0.split(separator: ":")[0] }, ["  full step_ms", "  full dense_ms", "  full attention_ms"])
        let attention = lines[2].split(separator: ":")[1].split(separator: " ").compactMap { Double($0) }
        XCTAssertEqual(attention, full.stepTimes.map { (($0.attention * 1000) * 100).rounded() / 100 })
    }
}

/// The FLOP count the bench divides by (docs/PERFORMANCE.md, "Default configuration").
final class BenchmarkFlopTests: XCTestCase {
    private let config = TrainingBenchmark.defaultConfig
    // Per layer forward: the matmuls 24·BT·C² and attention 4·B·T²·C; the head 2·BT·C·V (B 8, T 128, C 256, V 256).
    private let matmuls: Double = 24 * 1024 * 65536
    private let attention: Double = 4 * 8 * 16384 * 256
    private let head: Double = 2 * 1024 * 65536

    private func gflop(_ blocks: Set<Int>) -> Double {
        TrainingBenchmark.flops(config: config, batch: 8, sequence: 128, trainableBlocks: blocks) / 1e9
    }

    func testDefaultConfigMatchesTheDocs() {
        XCTAssertEqual(gflop(Set(0...7)), 31.8, accuracy: 0.05)   // full: 3x forward
        XCTAssertEqual(gflop([6]), 14.2, accuracy: 0.05)          // last layer
        XCTAssertEqual(gflop([1]), 23.6, accuracy: 0.05)          // first layer
        let layer = matmuls + attention
        XCTAssertEqual(gflop(Set(0...7)) * 1e9, 3 * (6 * layer + head))
        XCTAssertEqual(gflop([6]) * 1e9, 5 * layer + 3 * layer + 2 * head)
    }

    func testOneBlockCasesAreConsistent() {
        // Lower trained blocks cost more: more layers need input gradients.
        let layers = (1...6).map { gflop([$0]) }
        XCTAssertEqual(layers, layers.sorted(by: >))
        // Only the final norm: every layer forward, the head forward and its input gradient.
        XCTAssertEqual(gflop([7]), gflop([6]) - 2 * (matmuls + attention) / 1e9, accuracy: 1e-9)
        // The embedding alone: every layer needs input gradients, the head its weight gradient too.
        // Against the first layer: its matmuls' weight gradients are gone, the head's weight gradient comes.
        XCTAssertEqual(gflop([0]), gflop([1]) - (matmuls - head) / 1e9, accuracy: 1e-9)
    }

    func testMatmulShapesAreTheFullStepsMatmuls() {
        let shapes = TrainingBenchmark.matmulShapes(config: config, batch: 8, sequence: 128)
        let total = shapes.reduce(0.0) { $0 + $1.flops }
        XCTAssertEqual(total, 3 * (6 * matmuls + head))
        XCTAssertEqual(shapes.count, 15)
    }

    func testCaseLinesShowGFLOPsAndTheSgemmFraction() {
        let tiny = GPTConfig(vocabSize: 17, contextLength: 8, embedDim: 8, layers: 2, heads: 2)
        let rate = TrainingBenchmark.sgemmRate(config: tiny, batch: 2, sequence: 8, threads: 1, minSeconds: 0.001)
        XCTAssertGreaterThan(rate, 0)
        // One timed step: the phase times are medians over the timed steps, each taken on its own, so only
        // with one step are they parts of the one step whose time is compared below.
        let result = TrainingBenchmark.run(config: tiny, batch: 2, sequence: 8, threads: 1, warmup: 0, steps: 1, sgemmReference: true)
        let lines = result.description.split(separator: "\n").dropFirst(2)
        XCTAssertEqual(lines.count, 2 * result.cases.count, "a case line and an inside-the-step line per case")
        for (index, line) in lines.enumerated() where index % 2 == 0 {
            XCTAssertTrue(line.contains("tokens/s=") && line.contains("step_ms=") && line.contains("GFLOP/s=") && line.contains("of_sgemm="),
                          String(line))
        }
        for (index, line) in lines.enumerated() where index % 2 == 1 {
            XCTAssertTrue(line.contains("inside the step") && line.contains("attention_cost_per_flop="), String(line))
        }
        let full = result.case("full")!
        XCTAssertEqual(full.flops, TrainingBenchmark.flops(config: tiny, batch: 2, sequence: 8, trainableBlocks: Set(0...3)))
        XCTAssertEqual(full.flopsPerSecond, full.flops / full.medianStepSeconds)
        // Attention's share of the count: 4·B·T²·C forward per layer, three times over in a full step.
        XCTAssertEqual(full.attentionFlops, 2 * 3 * 4 * 16 * 8 * 8)
        XCTAssertGreaterThan(full.attentionSeconds, 0)
        XCTAssertGreaterThan(full.denseSeconds, 0)
        XCTAssertLessThanOrEqual(full.denseSeconds + full.attentionSeconds, full.medianStepSeconds, "one timed step holds both parts")
        XCTAssertFalse(PhaseTimes.enabled, "the bench switches phase timing off again")
        for c in result.cases {
            XCTAssertGreaterThan(c.ofSgemm ?? 0, 0, c.name)
            XCTAssertGreaterThan(c.sgemmFlopsPerSecond ?? 0, 0, c.name)
        }
        let unpaired = TrainingBenchmark.run(config: tiny, batch: 2, sequence: 8, threads: 1, warmup: 0, steps: 1, cases: [.full])
        XCTAssertNil(unpaired.cases[0].ofSgemm)
        XCTAssertFalse(unpaired.description.contains("of_sgemm="), "no fraction without its reference")
    }

    /// The reference sweep runs exactly the dense products of a full step, so a step and its sweep do the same matmul work.
    func testSgemmSweepIsTheFullStepsDenseWork() {
        let tiny = GPTConfig(vocabSize: 17, contextLength: 8, embedDim: 8, layers: 2, heads: 2)
        let reference = SgemmReference(config: tiny, batch: 2, sequence: 8)
        XCTAssertEqual(reference.flops, TrainingBenchmark.flopsByPart(config: tiny, batch: 2, sequence: 8, trainableBlocks: Set(0...3)).dense)
        let before = BLAS.threads
        XCTAssertGreaterThan(reference.sweepSeconds(threads: 2), 0)
        XCTAssertEqual(BLAS.threads, before, "the sweep puts OpenBLAS's thread count back")
    }
}
