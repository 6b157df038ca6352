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
}
