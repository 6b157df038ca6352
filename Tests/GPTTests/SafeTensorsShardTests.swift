import Foundation
import XCTest
@testable import GPT

/// Sharded checkpoints: a tiny BF16 GPT-2 that transformers' `save_pretrained(max_shard_size=...)`
/// split into three shards (Fixtures/safetensors/make_fixtures.py), and broken copies of it.
final class SafeTensorsShardTests: XCTestCase {
    static var sharded: String { SafeTensorsHalfPrecisionTests.fixtures + "/gpt2-bf16-sharded" }
    static let shard2 = "model-00002-of-00003.safetensors", shard3 = "model-00003-of-00003.safetensors"

    /// torch's `.float()` of every stored tensor.
    func expected() throws -> SafeTensorsFile {
        try SafeTensorsFile(path: SafeTensorsHalfPrecisionTests.fixtures + "/gpt2-bf16-expected.safetensors")
    }

    /// A copy of the sharded fixture that the test may break.
    func copyOfShardedFolder() throws -> String {
        let folder = TestSupport.temporaryFolder("shards")
        try FileManager.default.removeItem(atPath: folder)
        try FileManager.default.copyItem(atPath: Self.sharded, toPath: folder)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        return folder
    }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func testShardedBF16WeightsEqualTorchsFloatBitForBit() throws {
        let folder = try HuggingFaceFolder(path: Self.sharded)
        XCTAssertEqual(folder.config, GPTConfig(vocabSize: 64, contextLength: 8, embedDim: 8, layers: 2, heads: 2))
        XCTAssertEqual(try folder.weightFiles().map { ($0 as NSString).lastPathComponent },
                       ["model-00001-of-00003.safetensors", Self.shard2, Self.shard3])
        let weights = try folder.weights()
        let expected = try expected()
        XCTAssertEqual(weights.names, expected.entries.keys.sorted())
        for name in weights.names {
            XCTAssertEqual(try weights.entry(name).dtype, "BF16", name)
            XCTAssertEqual(try weights.shape(name), try expected.entry(name).shape, name)
            XCTAssertEqual(try weights.floats(name).map(\.bitPattern), try expected.floats(name).map(\.bitPattern), name)
        }
        let parameters = try folder.loadParameters()
        for slot in parameters.layout.tensors {
            XCTAssertEqual(Array(parameters.tensor(slot)).map(\.bitPattern), try expected.floats(slot.name).map(\.bitPattern), slot.name)
        }
    }

    func testASingleFileFolderReadsThroughTheSameReader() throws {
        let fixture = ReferenceFixtureTests.fixtureFolder
        let weights = try HuggingFaceWeights(folder: fixture)
        let file = try SafeTensorsFile(path: fixture + "/model.safetensors")
        XCTAssertEqual(weights.paths, [fixture + "/model.safetensors"])
        XCTAssertEqual(weights.names, file.entries.keys.sorted())
        XCTAssertEqual(try weights.floats("transformer.wpe.weight"), try file.floats("transformer.wpe.weight"))
        XCTAssertFalse(weights.contains("lm_head.weight"))
        XCTAssertEqual(message { try weights.floats("lm_head.weight") }, "missing tensor lm_head.weight")
    }

    func testAMissingShardIsNamedInOneLine() throws {
        let folder = try copyOfShardedFolder()
        try FileManager.default.removeItem(atPath: folder + "/" + Self.shard2)
        let error = message { try HuggingFaceFolder(path: folder).loadParameters() }
        XCTAssertEqual(error, "shard \(Self.shard2) is missing from \(folder) (\(folder)/model.safetensors.index.json maps "
            + "transformer.h.0.mlp.c_fc.bias to it); download every shard the index lists")
    }

    /// Replaces shard 3 by an F32 file holding its tensors after `edit`.
    func rewriteShard3(in folder: String, _ edit: (inout [String]) -> Void) throws {
        let original = try SafeTensorsFile(path: folder + "/" + Self.shard3)
        var names = original.names
        edit(&names)
        let expected = try expected()
        var writer = SafeTensorsWriter()
        for name in names { writer.add(name, shape: try expected.entry(name).shape, floats: try expected.floats(name)) }
        try writer.write(to: folder + "/" + Self.shard3)
    }

    func testAShardLackingAnIndexedTensorIsNamedInOneLine() throws {
        let folder = try copyOfShardedFolder()
        try rewriteShard3(in: folder) { $0.removeAll { $0 == "transformer.ln_f.bias" } }
        let error = message { try HuggingFaceFolder(path: folder).loadParameters() }
        XCTAssertEqual(error, "invalid safetensors file: tensor transformer.ln_f.bias is missing from shard \(Self.shard3), where "
            + "\(folder)/model.safetensors.index.json maps it; the shard is damaged or from another checkpoint, download it again")
    }

    func testShardsMayMixDTypesButNotRepeatATensor() throws {
        let folder = try copyOfShardedFolder()
        try rewriteShard3(in: folder) { _ in }  // now F32, beside two BF16 shards
        let parameters = try HuggingFaceFolder(path: folder).loadParameters()
        let expected = try expected()
        for slot in parameters.layout.tensors {
            XCTAssertEqual(Array(parameters.tensor(slot)), try expected.floats(slot.name), slot.name)
        }
        try rewriteShard3(in: folder) { $0.append("transformer.wpe.weight") }
        let error = message { try HuggingFaceWeights(folder: folder) }
        XCTAssertTrue(error.hasPrefix("invalid safetensors file: tensor transformer.wpe.weight appears in both "), error)
        XCTAssertFalse(error.contains("\n"))
    }

    func testABrokenIndexIsRefused() throws {
        let folder = try copyOfShardedFolder()
        let index = folder + "/model.safetensors.index.json"
        try "{\"weight_map\": {\"a\": \"../elsewhere.safetensors\"}}".write(toFile: index, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { try HuggingFaceWeights(folder: folder) }.contains("names a shard outside the folder"))
        try "{\"weight_map\": {\"a\": 3}}".write(toFile: index, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { try HuggingFaceWeights(folder: folder) }.hasSuffix("maps a to something other than a file name"))
        try "{\"metadata\": {}}".write(toFile: index, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { try HuggingFaceWeights(folder: folder) }.hasSuffix("has no weight_map object"))
    }
}
