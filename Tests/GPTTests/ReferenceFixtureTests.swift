import Kernels
import XCTest
@testable import GPT

final class ReferenceFixtureTests: XCTestCase {
    static var fixtureFolder: String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/gpt2-tiny").path
    }

    func testFixtureMatchesThroughVerify() throws {
        let report = try ReferenceCheck.verify(folder: Self.fixtureFolder)
        print(report)
        XCTAssertEqual(report.config, GPTConfig(vocabSize: 256, contextLength: 32, embedDim: 48, layers: 2, heads: 4))
        XCTAssertEqual(report.batch, 2)
        XCTAssertEqual(report.sequence, 16)
        XCTAssertLessThanOrEqual(try XCTUnwrap(report.entry("logits")).maxRelativeError, 1e-5)
        XCTAssertLessThanOrEqual(try XCTUnwrap(report.entry("loss")).maxRelativeError, 1e-5)
        XCTAssertLessThanOrEqual(try XCTUnwrap(report.entry("adamw_losses")).maxRelativeError, 1e-5)
        let layout = ParameterLayout(config: report.config)
        for slot in layout.tensors {
            let entry = try XCTUnwrap(report.entry("grad." + slot.name), "no gradient check for \(slot.name)")
            XCTAssertLessThanOrEqual(entry.maxRelativeError, 2e-5, slot.name)
        }
        for entry in report.entries { XCTAssertTrue(entry.passed, entry.name) }
        XCTAssertTrue(report.passed)
        XCTAssertTrue(report.description.contains("PASSED"))
    }

    /// Every compiled kernel path the CPU runs (baseline SSE2, AVX2+FMA, AVX-512) matches Hugging Face.
    func testFixtureMatchesOnEveryKernelPath() throws {
        defer { KernelPath.select(.best) }
        for path in KernelPath.supported {
            XCTAssertTrue(KernelPath.select(path))
            let report = try ReferenceCheck.verify(folder: Self.fixtureFolder)
            for entry in report.entries { XCTAssertTrue(entry.passed, "\(entry.name) on the \(path.rawValue) path") }
            XCTAssertTrue(report.passed, path.rawValue)
        }
    }
}
