import Foundation
import XCTest
@testable import GPT

final class SafeTensorsTests: XCTestCase {
    let config = GPTConfig(vocabSize: 19, contextLength: 8, embedDim: 8, layers: 2, heads: 2)

    func testModelRoundTripIsBitExact() throws {
        let folder = TestSupport.temporaryFolder("roundtrip")
        let p = TestSupport.randomParameters(config, seed: 1)
        try HuggingFaceModel.save(p, folder: folder)
        let back = try HuggingFaceModel.load(folder: folder)
        XCTAssertEqual(back.layout.config, config)
        XCTAssertTrue(TestSupport.bitEqual(back.storage, p.storage))
        let file = try SafeTensorsFile(path: folder + "/model.safetensors")
        XCTAssertEqual(Set(file.entries.keys), Set(p.layout.tensors.map(\.name)))
        XCTAssertEqual(file.metadata["format"], "pt")
    }

    func testWriterRoundTripsF32AndI32WithAlignedHeader() throws {
        var w = SafeTensorsWriter()
        w.add("a", shape: [2, 3], floats: [1, 2, 3, 4, 5, -6.5])
        w.add("ids", shape: [4], int32s: [7, -1, 0, Int32.max])
        w.add("empty", shape: [0, 3], floats: [])
        let data = w.serialized()
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        let file = try SafeTensorsFile(data: data)
        XCTAssertEqual(try file.floats("a"), [1, 2, 3, 4, 5, -6.5])
        XCTAssertEqual(try file.entry("a").shape, [2, 3])
        XCTAssertEqual(try file.int32s("ids"), [7, -1, 0, Int32.max])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertThrowsError(try file.floats("ids")) { 
            XCTAssertEqual($0 as? SafeTensorsDTypeError, SafeTensorsDTypeError(tensor: "ids", dtype: "I32", accepted: ["F32", "F16", "BF16"]))
        }
        XCTAssertThrowsError(try file.floats("nope")) { XCTAssertEqual($0 as? GPTError, .missingTensor("nope")) }
    }

    /// A raw safetensors file from a header text and data bytes.
    func raw(_ header: String, _ payload: [UInt8] = []) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: payload)
        return d
    }

    func assertSafetensorsError(_ data: Data, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile(data: data), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "\(error) does not mention \(text)", file: file, line: line)
        }
    }

    func testBadHeadersAreRejected() {
        assertSafetensorsError(Data([1, 2, 3]), contains: "too short")
        assertSafetensorsError(raw("{\"a\": {}}").prefix(10), contains: "header length")
        assertSafetensorsError(raw("{not json"), contains: "not valid JSON")
        assertSafetensorsError(raw("[1, 2]"), contains: "not a JSON object")
        assertSafetensorsError(raw("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}"), contains: "tensor a lacks")
        assertSafetensorsError(raw("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", [0, 0, 0, 0]),
                               contains: "tensor a has 4 bytes")
        assertSafetensorsError(raw("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", [0]),
                               contains: "tensor a has dtype Q4")
    }

    func testTruncatedFileIsRejected() throws {
        let p = TestSupport.randomParameters(config, seed: 2)
        var w = SafeTensorsWriter()
        for slot in p.layout.tensors { w.add(slot.name, shape: slot.shape, floats: UnsafeBufferPointer(p.tensor(slot))) }
        let data = w.serialized()
        XCTAssertNoThrow(try SafeTensorsFile(data: data))
        assertSafetensorsError(data.prefix(data.count - 3), contains: "truncated")
    }

    func testUnsupportedDTypeNamesTheTensor() throws {
        let folder = TestSupport.temporaryFolder("dtype")
        try HuggingFaceGPT2.configJSON(config).write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let header = "{\"wte.weight\": {\"dtype\": \"F64\", \"shape\": [19, 8], \"data_offsets\": [0, 1216]}}"
        try raw(header, [UInt8](repeating: 0, count: 1216)).write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
        XCTAssertThrowsError(try HuggingFaceFolder(path: folder).loadParameters()) { error in
            XCTAssertTrue("\(error)".hasPrefix("tensor wte.weight has dtype F64; float tensors must be F32, F16 or BF16"), "\(error)")
        }
    }

    /// Writes the model with `edit` applied to the (name, shape, values) list, then loads it.
    func loadEdited(_ edit: (inout [(String, [Int], [Float])]) -> Void) throws -> ParameterBuffer {
        let p = TestSupport.randomParameters(config, seed: 3)
        var tensors = p.layout.tensors.map { ($0.name, $0.shape, Array(p.tensor($0))) }
        edit(&tensors)
        var w = SafeTensorsWriter()
        for (n, s, v) in tensors { w.add(n, shape: s, floats: v) }
        let folder = TestSupport.temporaryFolder("edited")
        try HuggingFaceGPT2.configJSON(config).write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        try w.write(to: folder + "/model.safetensors")
        return try HuggingFaceModel.load(folder: folder)
    }

    func testWrongShapeNamesTensorExpectedAndFound() {
        XCTAssertThrowsError(try loadEdited { t in
            let i = t.firstIndex { $0.0 == "transformer.h.1.mlp.c_fc.weight" }!
            t[i].1 = [32, 8]
        }) { error in
            XCTAssertEqual(error as? GPTError, .shapeMismatch(tensor: "transformer.h.1.mlp.c_fc.weight", expected: [8, 32], found: [32, 8]))
            XCTAssertEqual("\(error)", "tensor transformer.h.1.mlp.c_fc.weight: expected shape [8, 32], found [32, 8]")
        }
    }

    func testNamesWithoutPrefixTiedHeadAndMaskBuffersLoad() throws {
        let reference = TestSupport.randomParameters(config, seed: 3)
        let p = try loadEdited { t in
            let wte = t[0].2
            t = t.map { (String($0.0.dropFirst("transformer.".count)), $0.1, $0.2) }
            t.append(("lm_head.weight", [19, 8], wte))
            t.append(("h.0.attn.bias", [1, 1, 8, 8], [Float](repeating: 1, count: 64)))
        }
        XCTAssertTrue(TestSupport.bitEqual(p.storage, reference.storage))
    }

    func testMissingUnexpectedAndUntiedTensorsAreRejected() {
        XCTAssertThrowsError(try loadEdited { $0.removeAll { $0.0 == "transformer.ln_f.bias" } }) {
            XCTAssertEqual($0 as? GPTError, .missingTensor("transformer.ln_f.bias"))
        }
        XCTAssertThrowsError(try loadEdited { $0.append(("transformer.h.5.ln_1.weight", [8], [Float](repeating: 0, count: 8))) }) {
            XCTAssertEqual($0 as? GPTError, .unexpectedTensor("transformer.h.5.ln_1.weight"))
        }
        XCTAssertThrowsError(try loadEdited { $0.append(("lm_head.weight", [8, 19], [Float](repeating: 0, count: 152))) }) {
            XCTAssertEqual($0 as? GPTError, .shapeMismatch(tensor: "lm_head.weight", expected: [19, 8], found: [8, 19]))
        }
        XCTAssertThrowsError(try loadEdited { $0.append(("lm_head.weight", [19, 8], [Float](repeating: 0, count: 152))) }) {
            XCTAssertTrue("\($0)".contains("lm_head.weight differs"))
        }
    }

    func testConfigParsing() throws {
        let fixture = try HuggingFaceGPT2.config(path: ReferenceFixtureTests.fixtureFolder + "/config.json")
        XCTAssertEqual(fixture, GPTConfig(vocabSize: 256, contextLength: 32, embedDim: 48, layers: 2, heads: 4, layerNormEpsilon: 1e-5))
        XCTAssertEqual(try HuggingFaceGPT2.config(json: Data(HuggingFaceGPT2.configJSON(config).utf8)), config)
        func error(_ json: String) -> String {
            do { _ = try HuggingFaceGPT2.config(json: Data(json.utf8)); return "no error" } catch { return "\(error)" }
        }
        let base = "\"n_embd\": 8, \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 4, \"vocab_size\": 5"
        XCTAssertTrue(error("{\(base), \"activation_function\": \"relu\"}").contains("activation_function"))
        XCTAssertTrue(error("{\(base), \"model_type\": \"gpt_neo\"}").contains("model_type"))
        XCTAssertTrue(error("{\"n_layer\": 1, \"n_head\": 2, \"n_positions\": 4, \"vocab_size\": 5}").contains("n_embd"))
        XCTAssertTrue(error("{\(base.replacingOccurrences(of: "\"n_head\": 2", with: "\"n_head\": 3"))}").contains("divisible"))
        XCTAssertTrue(error("{\(base), \"n_inner\": 7}").contains("n_inner"))
        XCTAssertTrue(error("not json").contains("not valid JSON"))
        XCTAssertEqual(error("{\(base), \"layer_norm_epsilon\": 1e-6}"), "no error")
    }
}
