import Foundation
import Kernels
import XCTest
@testable import GPT

/// Llama `config.json` parsing: where rope_theta may live, and what is refused naming its key.
final class LlamaImportTests: XCTestCase {
    var fixtureConfig: String {
        try! String(contentsOfFile: LlamaReferenceTests.fixtureFolder + "/config.json", encoding: .utf8)
    }

    func parse(_ text: String) throws -> GPTConfig { try HuggingFaceModel.config(json: Data(text.utf8)) }

    func testFixtureConfigReadsEveryField() throws {
        let c = try parse(fixtureConfig)
        XCTAssertEqual(c, .llama(vocabSize: 256, contextLength: 64, embedDim: 48, layers: 2, heads: 4, keyValueHeads: 2,
                                 intermediateSize: 128, headDim: 12, ropeTheta: 10_000, rmsNormEpsilon: 1e-5, tiedHead: false))
    }

    func testRopeThetaAtTheTopLevelOrInRopeParameters() throws {
        let top = fixtureConfig.replacingOccurrences(of: "\"rope_parameters\": {\n    \"rope_theta\": 10000.0,\n    \"rope_type\": \"default\"\n  },",
                                                     with: "\"rope_theta\": 500000.0,")
        XCTAssertNotEqual(top, fixtureConfig)
        XCTAssertEqual(try parse(top).ropeTheta, 500_000)
        let nested = fixtureConfig.replacingOccurrences(of: "\"rope_theta\": 10000.0", with: "\"rope_theta\": 250000.0")
        XCTAssertEqual(try parse(nested).ropeTheta, 250_000)
        let llama3 = fixtureConfig.replacingOccurrences(
            of: "\"rope_type\": \"default\"",
            with: "\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 32")
        let scaling = try XCTUnwrap(try parse(llama3).ropeScaling)
        XCTAssertEqual(scaling.factor, 8)
        XCTAssertEqual(scaling.originalContext, 32)
    }

    func testHeadDimDefaultsToWidthOverHeads() throws {
        let text = fixtureConfig.replacingOccurrences(of: "\"head_dim\": 12,\n", with: "")
        XCTAssertNotEqual(text, fixtureConfig)
        XCTAssertEqual(try parse(text).headDim, 12)
    }

    func testUnsupportedSettingsAreRefusedNamingTheKey() throws {
        let cases: [(String, String, String)] = [
            ("\"attention_bias\": false", "\"attention_bias\": true", "attention_bias"),
            ("\"mlp_bias\": false", "\"mlp_bias\": true", "mlp_bias"),
            ("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act"),
            ("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"", "rope_type"),
            ("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "num_key_value_heads"),
            ("\"pretraining_tp\": 1", "\"pretraining_tp\": 2", "pretraining_tp"),
        ]
        for (original, replacement, key) in cases {
            XCTAssertTrue(fixtureConfig.contains(original), original)
            XCTAssertThrowsError(try parse(fixtureConfig.replacingOccurrences(of: original, with: replacement)), key) { error in
                XCTAssertTrue("\(error)".contains(key), "\(error)")
            }
        }
    }

    /// What `configJSON` writes reads back to the same config, for tied and untied heads and Llama 3 rope.
    func testConfigJSONRoundTrips() throws {
        let configs: [GPTConfig] = [
            .llama(vocabSize: 99, contextLength: 40, embedDim: 24, layers: 3, heads: 6, keyValueHeads: 3, intermediateSize: 50,
                   headDim: 8, ropeTheta: 1234, rmsNormEpsilon: 1e-6, tiedHead: true),
            .llama(vocabSize: 10, contextLength: 8, embedDim: 8, layers: 1, heads: 2, keyValueHeads: 1, intermediateSize: 16,
                   ropeScaling: RopeScaling(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192)),
        ]
        for c in configs { XCTAssertEqual(try parse(HuggingFaceModel.configJSON(c, bos: 1, eos: 2)), c) }
    }

    /// A checkpoint file of the other family does not load: the tensor names differ.
    func testWeightsOfTheOtherFamilyAreRefused() throws {
        let folder = TestSupport.temporaryFolder("llama-into-gpt2")
        let llama = try HuggingFaceModel.load(folder: LlamaReferenceTests.fixtureFolder)
        try HuggingFaceModel.save(llama, folder: folder)
        let gpt2 = ParameterBuffer(layout: ParameterLayout(config: GPTConfig(vocabSize: 256, contextLength: 64, embedDim: 48, layers: 2, heads: 4)))
        XCTAssertThrowsError(try HuggingFaceModel.loadWeights([try SafeTensorsFile(path: folder + "/model.safetensors")], into: gpt2)) { error in
            XCTAssertTrue("\(error)".contains("model.embed_tokens.weight") || "\(error)".contains("lm_head"), "\(error)")
        }
    }
}
