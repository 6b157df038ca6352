import Federation
import XCTest

/// The codec benchmark's plumbing (speed itself is for a bench command to print, not for tests).
final class CodecBenchmarkTests: XCTestCase {
    func testBenchmarkMeasuresEveryCodecWithItsSizeAndError() {
        let results = CodecBenchmark.run(count: 1 << 20, rowLength: 1024, repetitions: 3)
        for result in results { print(result) }
        XCTAssertEqual(results.map(\.encoding), CodecBenchmark.encodings)
        XCTAssertEqual(results.map(\.bytes), [4 << 20, 2 << 20, 2 << 20, (1 << 20) + 4 * 1024, (1 << 18) * 4 + (1 << 17)])
        XCTAssertEqual(results[0].maxAbsoluteError, 0)
        // Normal(0, 0.02): values stay below about 0.13, so fp16 errs by at most 2^-11 of that.
        XCTAssertLessThan(results[1].maxAbsoluteError, 0.13 * 0x1p-11)
        XCTAssertLessThan(results[3].maxAbsoluteError, 0.13 / 254)
        for result in results { XCTAssertGreaterThan(result.encodeSeconds, 0) }
    }
}
