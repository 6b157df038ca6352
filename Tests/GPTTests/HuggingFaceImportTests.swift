import Foundation
import XCTest
@testable import GPT

/// Import of Hugging Face GPT-2 folders: the fixture made by transformers, shards, refusals.
final class HuggingFaceImportTests: XCTestCase {
    /// The project's shared fixture when the checkout has it beside it, else the test copy.
    static var fixture: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/gpt2-tiny").path
        return FileManager.default.fileExists(atPath: shared + "/config.json") ? shared : ReferenceFixtureTests.fixtureFolder
    }

    func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hf-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testImportedFixtureReproducesTransformersLogits() throws {
        let folder = try HuggingFaceFolder(path: Self.fixture)
        XCTAssertEqual(folder.config, GPTConfig(vocabSize: 256, contextLength: 32, embedDim: 48, layers: 2, heads: 4))
        let parameters = try folder.loadParameters()
        let expected = try SafeTensorsFile(path: Self.fixture + "/expected.safetensors")
        let inputs = try expected.int32s("input_ids")
        let shape = try expected.entry("input_ids").shape
        let logits = GPTEvaluator(config: folder.config, batch: shape[0], sequence: shape[1])
            .logits(parameters: parameters, inputs: inputs)
        let reference = try expected.floats("logits")
        XCTAssertEqual(logits.count, reference.count)
        let scale = reference.map(abs).max()!
        let worst = zip(logits, reference).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst / scale, 1e-5)
    }

    func testShardedWeightsLoadLikeOneFile() throws {
        let whole = try HuggingFaceFolder(path: Self.fixture).loadParameters()
        let folder = try temporaryFolder()
        try FileManager.default.copyItem(atPath: Self.fixture + "/config.json", toPath: folder + "/config.json")
        // Two shards with Hub-style names (no `transformer.` prefix), and the index that maps them.
        var first = SafeTensorsWriter(), second = SafeTensorsWriter()
        var map: [String] = []
        for (i, slot) in whole.layout.tensors.enumerated() {
            let name = String(slot.name.dropFirst("transformer.".count))
            let shard = i < whole.layout.tensors.count / 2 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"
            if i < whole.layout.tensors.count / 2 {
                first.add(name, shape: slot.shape, floats: UnsafeBufferPointer(whole.tensor(slot)))
            } else {
                second.add(name, shape: slot.shape, floats: UnsafeBufferPointer(whole.tensor(slot)))
            }
            map.append("\"\(name)\": \"\(shard)\"")
        }
        try first.write(to: folder + "/model-00001-of-00002.safetensors")
        try second.write(to: folder + "/model-00002-of-00002.safetensors")
        try "{\"metadata\": {}, \"weight_map\": {\(map.joined(separator: ", "))}}"
            .write(toFile: folder + "/model.safetensors.index.json", atomically: true, encoding: .utf8)

        let sharded = try HuggingFaceFolder(path: folder)
        XCTAssertEqual(try sharded.weightFiles().count, 2)
        let loaded = try sharded.loadParameters()  // held: its storage lives only as long as it does
        XCTAssertEqual(Array(loaded.storage), Array(whole.storage))
    }

    func testAShardMissingATensorIsRefusedNamingIt() throws {
        let folder = try temporaryFolder()
        try FileManager.default.copyItem(atPath: Self.fixture + "/config.json", toPath: folder + "/config.json")
        var only = SafeTensorsWriter()
        only.add("wte.weight", shape: [256, 48], floats: [Float](repeating: 0, count: 256 * 48))
        try only.write(to: folder + "/a.safetensors")
        try "{\"weight_map\": {\"wte.weight\": \"a.safetensors\"}}".write(toFile: folder + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HuggingFaceFolder(path: folder).loadParameters()) { error in
            XCTAssertEqual(error as? GPTError, .missingTensor("transformer.wpe.weight"))
        }
    }

    func testUnsupportedConfigsAreRefusedNamingTheKey() throws {
        let base = try String(contentsOfFile: Self.fixture + "/config.json", encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("\"model_type\": \"gpt2\"", "\"model_type\": \"mistral\"", "model_type"),
            ("\"activation_function\": \"gelu_new\"", "\"activation_function\": \"relu\"", "activation_function"),
            ("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false", "tie_word_embeddings"),
            ("\"add_cross_attention\": false", "\"add_cross_attention\": true", "add_cross_attention"),
            ("\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true", "scale_attn_by_inverse_layer_idx"),
        ]
        for (original, replacement, key) in cases {
            XCTAssertTrue(base.contains(original), original)
            let folder = try temporaryFolder()
            try base.replacingOccurrences(of: original, with: replacement).write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try HuggingFaceFolder(path: folder), key) { error in
                XCTAssertTrue("\(error)".contains(key), "\(error)")
            }
        }
    }

    func testAFolderWithOnlyPyTorchWeightsSaysHowToConvert() throws {
        let folder = try temporaryFolder()
        try FileManager.default.copyItem(atPath: Self.fixture + "/config.json", toPath: folder + "/config.json")
        FileManager.default.createFile(atPath: folder + "/pytorch_model.bin", contents: Data([0]))
        XCTAssertThrowsError(try HuggingFaceFolder(path: folder).weightFiles()) { error in
            XCTAssertTrue("\(error)".contains("safe_serialization=True"), "\(error)")
        }
    }

    func testGreedySamplingFollowsTheArgmaxOfTheLogits() throws {
        let parameters = try HuggingFaceFolder(path: Self.fixture).loadParameters()
        let generator = TextGenerator(parameters: parameters)
        let prompt: [Int32] = [72, 101, 108, 108, 111]
        let generated = generator.generate(prompt: prompt, options: SamplingOptions(tokens: 3, temperature: 0, topK: 0, seed: 1))
        XCTAssertEqual(generated.count, 3)
        // Each greedy token is the argmax of a full forward pass over the text before it.
        var text = prompt
        for token in generated {
            let logits = GPTEvaluator(config: parameters.layout.config, batch: 1, sequence: text.count)
                .logits(parameters: parameters, inputs: text)
            let last = Array(logits.suffix(256))
            XCTAssertEqual(Int(token), last.indices.max { last[$0] < last[$1] }!)
            text.append(token)
        }
    }

    func testSamplingIsReproducibleAndKeepsToTheTopK() throws {
        let parameters = try HuggingFaceFolder(path: Self.fixture).loadParameters()
        let options = SamplingOptions(tokens: 40, temperature: 1.5, topK: 2, seed: 9)
        let first = TextGenerator(parameters: parameters).generate(prompt: [10], options: options)
        XCTAssertEqual(first, TextGenerator(parameters: parameters).generate(prompt: [10], options: options))
        // With k = 2 every token is one of the two most likely after the text before it.
        let generator = TextGenerator(parameters: parameters)
        var text: [Int32] = [10]
        for token in first {
            let logits = generator.lastLogits(Array(text.suffix(32)))
            let top2 = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(2)
            XCTAssertTrue(top2.contains(Int(token)))
            text.append(token)
        }
    }
}
