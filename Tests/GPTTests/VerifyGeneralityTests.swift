import Foundation
import XCTest
@testable import GPT

/// `ReferenceCheck.verify` on folders of other shapes, written by this engine in the fixture layout
/// (the numbers themselves are checked against finite differences in GradientCheckTests).
final class VerifyGeneralityTests: XCTestCase {
    let config = GPTConfig(vocabSize: 37, contextLength: 13, embedDim: 12, layers: 3, heads: 3, layerNormEpsilon: 1e-6)

    /// Writes config.json, model.safetensors and expected.safetensors for a batch of `batch` x `sequence`.
    func writeFolder(batch: Int, sequence: Int, includeHeadGradient: Bool,
                     tamper: ((inout [String: [Float]]) -> Void)? = nil) throws -> String {
        let folder = TestSupport.temporaryFolder("verify")
        let p = TestSupport.randomParameters(config, seed: 21, std: 0.2)
        try HuggingFaceModel.save(p, folder: folder)
        let (inputs, targets) = TestSupport.batch(config, batch: batch, sequence: sequence, seed: 21)
        let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence)
        var tensors: [String: [Float]] = ["logits": evaluator.logits(parameters: p, inputs: inputs)]
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: Set(0..<p.layout.blockCount))
        tensors["loss"] = [trainer.forwardBackward(parameters: p, inputs: inputs, targets: targets)]
        for slot in p.layout.tensors { tensors["grad." + slot.name] = Array(trainer.gradient(of: slot)!) }
        if includeHeadGradient { tensors["grad.lm_head.weight"] = tensors["grad.transformer.wte.weight"] }
        let copy = p.copy()
        trainer.resetOptimizer()
        tensors["adamw_losses"] = (0..<3).map { _ in
            _ = trainer.step(parameters: copy, inputs: inputs, targets: targets, settings: ReferenceCheck.adamWSettings)
            return evaluator.loss(parameters: copy, inputs: inputs, targets: targets)
        }
        tamper?(&tensors)
        var w = SafeTensorsWriter()
        w.add("input_ids", shape: [batch, sequence], int32s: inputs)
        w.add("targets", shape: [batch, sequence], int32s: targets)
        for (name, values) in tensors.sorted(by: { $0.key < $1.key }) {
            let shape = name == "logits" ? [batch, sequence, config.vocabSize]
                : name.hasPrefix("grad.lm_head") ? [config.vocabSize, config.embedDim]
                : name.hasPrefix("grad.") ? p.layout.tensor(named: String(name.dropFirst(5)))!.shape : [values.count]
            w.add(name, shape: shape, floats: values)
        }
        try w.write(to: folder + "/expected.safetensors")
        return folder
    }

    func testVerifyHandlesOtherConfigAndBatchShape() throws {
        let folder = try writeFolder(batch: 3, sequence: 11, includeHeadGradient: true)
        let report = try ReferenceCheck.verify(folder: folder)
        XCTAssertEqual(report.config, config)
        XCTAssertEqual(report.batch, 3)
        XCTAssertEqual(report.sequence, 11)
        XCTAssertTrue(report.passed, report.description)
        XCTAssertEqual(report.entries.count, 3 + ParameterLayout(config: config).tensors.count + 1)
        XCTAssertNotNil(report.entry("grad.lm_head.weight"))
        XCTAssertEqual(report.worst(prefix: "grad."), 0)
    }

    func testVerifyReportsAWrongGradientByName() throws {
        let name = "grad.transformer.h.2.attn.c_attn.bias"
        let folder = try writeFolder(batch: 2, sequence: 13, includeHeadGradient: false) { tensors in
            tensors[name]![4] += 0.01
        }
        let report = try ReferenceCheck.verify(folder: folder)
        XCTAssertFalse(report.passed)
        XCTAssertEqual(report.entries.filter { !$0.passed }.map(\.name), [name])
        XCTAssertTrue(report.description.contains("FAIL"))
        XCTAssertNil(report.entry("grad.lm_head.weight"))
    }

    func testVerifyRejectsSequenceLongerThanContext() throws {
        let folder = try writeFolder(batch: 1, sequence: 5, includeHeadGradient: false)
        var w = SafeTensorsWriter()
        w.add("input_ids", shape: [1, 14], int32s: [Int32](repeating: 1, count: 14))
        try w.write(to: folder + "/expected.safetensors")
        XCTAssertThrowsError(try ReferenceCheck.verify(folder: folder)) { XCTAssertTrue("\($0)".contains("n_positions")) }
    }
}
