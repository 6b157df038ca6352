import Foundation
import Kernels
import XCTest
@testable import GPT

/// The Llama forward, backward and AdamW against the transformers fixture (untied head, 4 query heads
/// over 2 key/value heads), on every kernel path.
final class LlamaReferenceTests: XCTestCase {
    static var fixtureFolder: String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/llama-tiny").path
    }

    func testFixtureMatchesThroughVerify() throws {
        let report = try ReferenceCheck.verify(folder: Self.fixtureFolder)
        print(report)
        let config = report.config
        XCTAssertEqual(config.architecture, .llama)
        XCTAssertEqual(config.keyValueHeads, 2)
        XCTAssertEqual(config.heads, 4)
        XCTAssertEqual(config.headDim, 12)
        XCTAssertFalse(config.tiedHead)
        let layout = ParameterLayout(config: config)
        XCTAssertNotNil(layout.tensor(named: "lm_head.weight"))
        for slot in layout.tensors {
            let entry = try XCTUnwrap(report.entry("grad." + slot.name), "no gradient check for \(slot.name)")
            XCTAssertLessThanOrEqual(entry.maxRelativeError, 2e-5, slot.name)
        }
        for name in ["logits", "loss", "adamw_losses"] {
            XCTAssertLessThanOrEqual(try XCTUnwrap(report.entry(name)).maxRelativeError, 1e-5, name)
        }
        XCTAssertTrue(report.passed)
    }

    func testFixtureMatchesOnEveryKernelPath() throws {
        defer { KernelPath.select(.best) }
        for path in KernelPath.supported {
            XCTAssertTrue(KernelPath.select(path))
            let report = try ReferenceCheck.verify(folder: Self.fixtureFolder)
            for entry in report.entries { XCTAssertTrue(entry.passed, "\(entry.name) on the \(path.rawValue) path") }
        }
    }

    /// A wrong engine must fail the check: perturbing one weight of the fixture's model moves the logits.
    func testPerturbedModelFailsTheCheck() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("llama-perturbed-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Self.fixtureFolder, toPath: folder)
        let parameters = try HuggingFaceModel.load(folder: folder)
        parameters.tensor(named: "model.layers.1.self_attn.k_proj.weight")![5] += 0.05
        try HuggingFaceModel.save(parameters, folder: folder)
        let report = try ReferenceCheck.verify(folder: folder)
        XCTAssertFalse(try XCTUnwrap(report.entry("logits")).passed)
        XCTAssertFalse(report.passed)
    }
}
