import Determinism
import Federation
import GPT
import XCTest

/// Round-trip error bounds, exact sizes and malformed-payload rejection for every block codec.
final class BlockCodecTests: XCTestCase {
    /// Normal(0, std) values, with a few rows scaled far apart so per-row scales matter.
    private func sample(_ count: Int, std: Double = 0.02, seed: UInt64 = 3) -> [Float] {
        var rng = CounterRNG(seed: seed, purpose: .sampling)
        return (0..<count).map { Float(rng.nextGaussian() * std * pow(10, Double($0 / 64 % 5) - 2)) }
    }

    private func roundTrip(_ encoding: BlockEncoding, _ values: [Float], rows: RowLayout) throws -> (bytes: [UInt8], decoded: [Float]) {
        let codec = encoding.codec
        let bytes = values.withUnsafeBufferPointer { codec.encode(values: $0, rows: rows) }
        XCTAssertEqual(bytes.count, codec.encodedSize(rows), "\(encoding)")
        var decoded = [Float](repeating: .nan, count: values.count)
        try decoded.withUnsafeMutableBufferPointer { try codec.decode(bytes, into: $0, rows: rows) }
        return (bytes, decoded)
    }

    func testFP32IsExactAndFourBytesAValue() throws {
        let values = sample(1000) + [.infinity, -0.0, .leastNonzeroMagnitude]
        let (bytes, decoded) = try roundTrip(.fp32, values, rows: .uniform(count: values.count, rowLength: values.count))
        XCTAssertEqual(bytes.count, 4 * values.count)
        XCTAssertEqual(decoded.map(\.bitPattern), values.map(\.bitPattern))
    }

    func testFP16RelativeErrorWithinHalfAnUlp() throws {
        // Normal halves span [2^-14, 65504]: a log-uniform sweep over that range, both signs.
        var rng = CounterRNG(seed: 5, purpose: .sampling)
        let values: [Float] = (0..<20_000).map { i in
            let magnitude = Float(pow(2.0, -14 + Double(rng.nextUnitFloat()) * 29.99))
            return i % 2 == 0 ? magnitude : -magnitude
        }
        let (bytes, decoded) = try roundTrip(.fp16, values, rows: .uniform(count: values.count, rowLength: 100))
        XCTAssertEqual(bytes.count, 2 * values.count)
        for (v, d) in zip(values, decoded) {
            XCTAssertLessThanOrEqual(abs(d - v) / abs(v), 0x1p-11, "\(v) → \(d)")
        }
        // Subnormal halves: absolute error at most half their spacing, 2^-25.
        let tiny: [Float] = (1..<200).map { Float($0) * 0x1p-30 }
        for (v, d) in zip(tiny, try roundTrip(.fp16, tiny, rows: .uniform(count: tiny.count, rowLength: 1)).decoded) {
            XCTAssertLessThanOrEqual(abs(d - v), 0x1p-25)
        }
    }

    func testFP16SpecialValuesAndTies() throws {
        let values: [Float] = [.infinity, -.infinity, .nan, 65504, 65519, 65520, -70000, 1e-8, -1e-8,
                               1 + 0x1p-11, 1 + 3 * 0x1p-11, 0x1p-24, 0x1p-25, 3 * 0x1p-25]
        let d = try roundTrip(.fp16, values, rows: .uniform(count: values.count, rowLength: 1)).decoded
        XCTAssertEqual(Array(d[0...1]), [.infinity, -.infinity])
        XCTAssertTrue(d[2].isNaN)
        XCTAssertEqual(Array(d[3...6]), [65504, 65504, .infinity, -.infinity])
        XCTAssertEqual(d[7].bitPattern, Float(0).bitPattern)
        XCTAssertEqual(d[8].bitPattern, Float(-0.0).bitPattern)
        // Ties go to the even mantissa: 1 + half an ulp → 1, 1 + 1.5 ulp → 1 + 2 ulp.
        XCTAssertEqual(Array(d[9...10]), [1, 1 + 0x1p-9])
        // The smallest subnormal, a tie below it (→ 0, even), a tie above it (→ 2^-23, even).
        XCTAssertEqual(Array(d[11...13]), [0x1p-24, 0, 0x1p-23])
    }

    #if !(os(macOS) && arch(x86_64))
    /// The bit-level conversion agrees with the standard library's Float16 everywhere it exists.
    func testFP16MatchesSwiftFloat16() throws {
        let halves = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }
        let codec = FP16Codec()
        let allBits = (0...UInt16.max).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        var decoded = [Float](repeating: 0, count: 65536)
        try decoded.withUnsafeMutableBufferPointer { try codec.decode(allBits, into: $0, rowLength: 1) }
        for (mine, theirs) in zip(decoded, halves) where !theirs.isNaN { XCTAssertEqual(mine.bitPattern, theirs.bitPattern) }
        XCTAssertEqual(decoded.filter(\.isNaN).count, halves.filter(\.isNaN).count)
        // Encoding: every float whose low 13 bits are one of a few patterns around the rounding point.
        var floats: [Float] = []
        for high in stride(from: UInt32(0), to: 0x8000_0000, by: 0x0001_0000) {
            for low: UInt32 in [0, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x3000] {
                floats.append(Float(bitPattern: high | low))
                floats.append(-Float(bitPattern: high | low))
            }
        }
        let encoded = floats.withUnsafeBufferPointer { codec.encode(values: $0, rowLength: 1) }
        for (i, f) in floats.enumerated() where !f.isNaN {
            let mine = UInt16(encoded[2 * i]) | UInt16(encoded[2 * i + 1]) << 8
            XCTAssertEqual(mine, Float16(f).bitPattern, "\(f)")
        }
    }
    #endif

    func testBF16RelativeErrorTiesAndSpecials() throws {
        let values = sample(5000).filter { $0 != 0 }
        let (bytes, decoded) = try roundTrip(.bf16, values, rows: .uniform(count: values.count, rowLength: 1))
        XCTAssertEqual(bytes.count, 2 * values.count)
        for (v, d) in zip(values, decoded) { XCTAssertLessThanOrEqual(abs(d - v) / abs(v), 0x1p-8) }
        let specials: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, .infinity, -.nan, .greatestFiniteMagnitude, Float(bitPattern: 0x0001_16C2)]
        let s = try roundTrip(.bf16, specials, rows: .uniform(count: specials.count, rowLength: 1)).decoded
        XCTAssertEqual(Array(s[0...1]), [1, 1 + 0x1p-6])
        XCTAssertEqual(s[2], .infinity)
        XCTAssertTrue(s[3].isNaN)
        XCTAssertEqual(s[3].sign, .minus)
        // Above the largest bf16 by more than half its spacing: rounds up to inf, as RNE must.
        XCTAssertEqual(s[4], .infinity)
        // An fp32 subnormal (about 1e-40): its low half is below the tie, so it rounds down.
        XCTAssertEqual(s[5].bitPattern, 0x0001_0000)
    }

    func testInt8ErrorWithinHalfAStepOfEachRow() throws {
        let rowLength = 64
        let values = sample(64 * 40)
        let rows = RowLayout.uniform(count: values.count, rowLength: rowLength)
        let (bytes, decoded) = try roundTrip(.int8, values, rows: rows)
        XCTAssertEqual(bytes.count, values.count + 4 * 40)
        for row in 0..<40 {
            let range = (row * rowLength)..<((row + 1) * rowLength)
            let absmax = values[range].map(abs).max()!
            for i in range { XCTAssertLessThanOrEqual(abs(decoded[i] - values[i]), absmax / 254 * 1.000_01, "row \(row)") }
        }
        // Rows 0 and 1 differ by 10× in scale; a shared scale would wipe out the small row's values.
        XCTAssertGreaterThan(Set(decoded[0..<64]).count, 20)
    }

    func testInt8ScalesPerTensorOfAGPTBlock() throws {
        let layout = ParameterLayout(config: GPTConfig(vocabSize: 32, contextLength: 8, embedDim: 16, layers: 1, heads: 2))
        let block = layout.blocks[1]
        let rows = RowLayout(block: 1, of: layout)
        XCTAssertEqual(rows.count, block.range.count)
        // ln_1 w/b [16] ×2, c_attn [16, 48] + [48], c_proj [16, 16] + [16], ln_2 ×2, c_fc [16, 64] + [64], c_proj [64, 16] + [16].
        XCTAssertEqual(rows.rowCount, 2 + 16 + 1 + 16 + 1 + 2 + 16 + 1 + 64 + 1)
        let parameters = ParameterBuffer.initialized(layout: layout, seed: 1)
        let values = Array(parameters.block(1))
        let decoded = try roundTrip(.int8, values, rows: rows).decoded
        // LayerNorm gains of 1 sit in the same block as weights of 0.02; each keeps its own scale.
        for slot in layout.tensors where slot.block == 1 {
            let local = (slot.offset - block.range.lowerBound)..<(slot.offset - block.range.lowerBound + slot.count)
            let absmax = values[local].map(abs).max()!
            for i in local { XCTAssertLessThanOrEqual(abs(decoded[i] - values[i]), absmax / 254 * 1.000_01, slot.name) }
        }
    }

    func testInt8ZeroRowAndNonFiniteRow() throws {
        let values: [Float] = [0, 0, 0, 0, 1, .nan, 2, 3]
        let codec = Int8Codec()
        let bytes = values.withUnsafeBufferPointer { codec.encode(values: $0, rowLength: 4) }
        var decoded = [Float](repeating: 7, count: 8)
        XCTAssertThrowsError(try decoded.withUnsafeMutableBufferPointer { try codec.decode(bytes, into: $0, rowLength: 4) }) {
            XCTAssertTrue("\($0)".contains("row 1"), "\($0)")
        }
        XCTAssertEqual(decoded, [Float](repeating: 7, count: 8), "a refused payload leaves the target untouched")
        let zeros = [Float](repeating: 0, count: 4)
        XCTAssertEqual(try roundTrip(.int8, zeros, rows: .uniform(count: 4, rowLength: 4)).decoded, zeros)
        // So small that 127/absmax overflows fp32: still within half a step.
        let tiny: [Float] = [1e-38, -3e-39, 7e-39, 0]
        let back = try roundTrip(.int8, tiny, rows: .uniform(count: 4, rowLength: 4)).decoded
        for (v, d) in zip(tiny, back) { XCTAssertLessThanOrEqual(abs(d - v), 1e-38 / 254 * 1.01) }
    }

    func testPruneKeepsExactlyTheLargestAndZeroesTheRest() throws {
        let values = sample(1000, seed: 9)
        let (bytes, decoded) = try roundTrip(.prune(density: 0.25), values, rows: .uniform(count: 1000, rowLength: 10))
        XCTAssertEqual(bytes.count, 250 * 4 + 125)
        let expected = Set(values.indices.sorted { abs(values[$0]) != abs(values[$1]) ? abs(values[$0]) > abs(values[$1]) : $0 < $1 }.prefix(250))
        for i in values.indices {
            XCTAssertEqual(decoded[i].bitPattern, expected.contains(i) ? values[i].bitPattern : 0, "index \(i)")
        }
    }

    func testPruneTiesGoToLowerIndicesAndCountsRoundUp() throws {
        let ties: [Float] = [1, -1, 0.5, 1, -1, 1, 0, -0.0, 1, 1]
        let decoded = try roundTrip(.prune(density: 0.25), ties, rows: .uniform(count: 10, rowLength: 10)).decoded
        // ⌈2.5⌉ = 3 kept: the first three of the seven values of magnitude 1.
        XCTAssertEqual(decoded, [1, -1, 0, 1, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(PruneCodec(density: 0.7).keptCount(100), 70)
        XCTAssertEqual(PruneCodec(density: 0.1).keptCount(3), 1)
        XCTAssertEqual(PruneCodec(density: 1).keptCount(17), 17)
        let all = sample(37)
        XCTAssertEqual(try roundTrip(.prune(density: 1), all, rows: .uniform(count: 37, rowLength: 37)).decoded, all)
    }

    func testPruneWorksPerTensor() throws {
        // A tensor of large values next to one of small values: each keeps half of its own.
        let values: [Float] = (0..<16).map { Float($0 + 100) } + (0..<8).map { Float($0) * 0.001 }
        let rows = RowLayout(segments: [(16, 4), (8, 8)])
        let (bytes, decoded) = try roundTrip(.prune(density: 0.5), values, rows: rows)
        XCTAssertEqual(bytes.count, (8 + 4) * 4 + 2 + 1)
        XCTAssertEqual(decoded.filter { $0 != 0 }.count, 12)
        XCTAssertEqual(Array(decoded[16...]), [0, 0, 0, 0] + values[20...])
    }

    func testWrongSizesAreRefusedWithTheNumbers() {
        let values = sample(96)
        let rows = RowLayout.uniform(count: 96, rowLength: 32)
        for encoding in CodecBenchmark.encodings {
            let codec = encoding.codec
            let bytes = values.withUnsafeBufferPointer { codec.encode(values: $0, rows: rows) }
            var target = [Float](repeating: 0, count: 96)
            for bad in [Array(bytes.dropLast()), bytes + [0], []] {
                XCTAssertThrowsError(try target.withUnsafeMutableBufferPointer { try codec.decode(bad, into: $0, rows: rows) }) {
                    XCTAssertEqual($0 as? CodecError, .sizeMismatch(encoding: encoding.description, values: 96,
                                                                   expected: bytes.count, received: bad.count))
                    XCTAssertTrue("\($0)".contains("expected \(bytes.count)"), "\($0)")
                }
            }
            var short = [Float](repeating: 0, count: 95)
            XCTAssertThrowsError(try short.withUnsafeMutableBufferPointer { try codec.decode(bytes, into: $0, rows: rows) })
            XCTAssertEqual(target, [Float](repeating: 0, count: 96), "\(encoding): nothing written on refusal")
        }
    }

    func testMalformedPayloadsAreRefused() {
        let values = sample(20)
        var target = [Float](repeating: 0, count: 20)
        let rows = RowLayout.uniform(count: 20, rowLength: 10)
        func refuses(_ codec: any BlockCodec, _ bytes: [UInt8], _ phrase: String, line: UInt = #line) {
            XCTAssertThrowsError(try target.withUnsafeMutableBufferPointer { try codec.decode(bytes, into: $0, rows: rows) }, line: line) {
                XCTAssertTrue("\($0)".contains(phrase), "\($0)", line: line)
            }
        }
        let int8 = Int8Codec()
        var negative = values.withUnsafeBufferPointer { int8.encode(values: $0, rows: rows) }
        negative[7] |= 0x80 // the sign bit of row 1's scale
        refuses(int8, negative, "row 1 has scale -")
        let prune = PruneCodec(density: 0.5)
        let good = values.withUnsafeBufferPointer { prune.encode(values: $0, rows: rows) }
        var extraBit = good
        let maskStart = 10 * 4
        extraBit[maskStart] = 0xFF; extraBit[maskStart + 1] = 0xFF; extraBit[maskStart + 2] = 0
        refuses(prune, extraBit, "marks 16 values, expected 10")
        var spareBit = good
        spareBit[maskStart + 2] |= 0x80 // bit 23 of a 20-value tensor
        refuses(prune, spareBit, "past its 20 values")
        XCTAssertEqual(target, [Float](repeating: 0, count: 20))
    }
}
