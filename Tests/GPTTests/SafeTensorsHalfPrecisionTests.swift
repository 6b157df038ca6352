import Foundation
import XCTest
@testable import GPT

/// F16 and BF16 tensors read as fp32, against torch's `.float()` of the same tensors
/// (Fixtures/safetensors, made by its make_fixtures.py), and the integer and refused dtypes.
final class SafeTensorsHalfPrecisionTests: XCTestCase {
    static var fixtures: String { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/safetensors").path }

    func testF16AndBF16ValuesEqualTorchsFloatBitForBit() throws {
        let file = try SafeTensorsFile(path: Self.fixtures + "/dtypes.safetensors")
        let expected = try SafeTensorsFile(path: Self.fixtures + "/dtypes-expected.safetensors")
        let dtypes = ["f16": "F16", "bf16": "BF16", "f32": "F32", "f16_scalar": "F16", "bf16_empty": "BF16"]
        for (name, dtype) in dtypes {
            XCTAssertEqual(try file.entry(name).dtype, dtype)
            XCTAssertEqual(try file.entry(name).shape, try expected.entry(name).shape, name)
            let ours = try file.floats(name).map(\.bitPattern), torch = try expected.floats(name).map(\.bitPattern)
            XCTAssertEqual(ours.count, torch.count, name)
            for i in ours.indices where ours[i] != torch[i] {
                XCTFail("\(name)[\(i)]: ours \(String(ours[i], radix: 16)), torch \(String(torch[i], radix: 16))")
                break
            }
        }
        // The comparison above covers every class of value, in both formats.
        for name in ["f16", "bf16"] {
            let values = try expected.floats(name)
            XCTAssertGreaterThan(values.filter { $0 != 0 && abs($0) < (name == "f16" ? 6.1e-5 : 1.2e-38) }.count, 20, name)
            XCTAssertTrue(values.contains(.infinity) && values.contains(-.infinity), name)
            XCTAssertGreaterThan(values.filter(\.isNaN).count, 2, name)
            XCTAssertTrue(values.contains { $0 == 0 && $0.sign == .minus }, name)
        }
    }

    #if !(os(macOS) && arch(x86_64))
    func testEveryBinary16PatternWidensExactly() {
        // The reference is the compiler runtime's Float16 conversion; it keeps a signalling NaN
        // signalling, where torch (and x86's vcvtph2ps) quiet it, as we do.
        let patterns = (0...UInt16.max).map { $0 }
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * patterns.count)  // odd start: unaligned loads
        for (i, h) in patterns.enumerated() { bytes[1 + 2 * i] = UInt8(h & 0xff); bytes[2 + 2 * i] = UInt8(h >> 8) }
        var widened = [Float](repeating: 0, count: patterns.count)
        bytes.withUnsafeBytes { raw in
            widened.withUnsafeMutableBufferPointer { HalfPrecision.widenBinary16(UnsafeRawBufferPointer(rebasing: raw[1...]), into: $0) }
        }
        var mismatches = 0
        for (i, h) in patterns.enumerated() {
            let reference = Float(Float16(bitPattern: h))
            let expected = reference.isNaN ? reference.bitPattern | 0x0040_0000 : reference.bitPattern
            if widened[i].bitPattern != expected {
                mismatches += 1
                if mismatches < 5 { XCTFail("binary16 \(String(h, radix: 16)): \(String(widened[i].bitPattern, radix: 16)), expected \(String(expected, radix: 16))") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }
    #endif

    func testIntegerTensorsReadAsI32AndI64() throws {
        let file = try SafeTensorsFile(path: Self.fixtures + "/dtypes.safetensors")
        XCTAssertEqual(try file.int32s("i32"), [0, -1, 7, Int32.max, Int32.min])
        XCTAssertEqual(try file.int64s("i64"), [0, -1, 7, (1 << 40) + 3, -(1 << 62)])
        XCTAssertEqual(try file.int64s("i32"), [0, -1, 7, Int64(Int32.max), Int64(Int32.min)])
        XCTAssertThrowsError(try file.int32s("i64")) {
            XCTAssertEqual("\($0)", "tensor i64 has dtype I64; integer tensors must be I32")
        }
    }

    func testOtherDTypesAreRefusedInOneLineNamingTensorAndDType() throws {
        let file = try SafeTensorsFile(path: Self.fixtures + "/dtypes.safetensors")
        for (name, dtype) in [("f64", "F64"), ("i64", "I64")] {
            XCTAssertThrowsError(try file.floats(name)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix("tensor \(name) has dtype \(dtype); float tensors must be F32, F16 or BF16 ("), message)
                XCTAssertFalse(message.contains("\n"))
            }
        }
    }
}
