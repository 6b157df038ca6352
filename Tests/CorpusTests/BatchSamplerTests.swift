import Corpus
import XCTest

final class BatchSamplerTests: XCTestCase {
    private let text = sampleText(5000)

    private func batch(seed: UInt64 = 7, round: Int = 3, client: Int = 2, step: Int = 0) -> (inputs: [Int32], targets: [Int32]) {
        BatchSampler.trainingBatch(tokens: text, batch: 8, sequence: 32, seed: seed, round: round, client: client, step: step)
    }

    func testSameArgumentsGiveTheSameBatch() {
        let first = batch(), second = batch()
        XCTAssertEqual(first.inputs, second.inputs)
        XCTAssertEqual(first.targets, second.targets)
        XCTAssertEqual(first.inputs.count, 8 * 32)
    }

    func testRoundClientStepAndSeedEachChangeTheBatch() {
        let base = batch().inputs
        XCTAssertNotEqual(batch(round: 4).inputs, base)
        XCTAssertNotEqual(batch(client: 3).inputs, base)
        XCTAssertNotEqual(batch(step: 1).inputs, base)
        XCTAssertNotEqual(batch(seed: 8).inputs, base)
    }

    func testRowsAreWindowsOfTheTextAndTargetsAreInputsShiftedByOne() {
        let (inputs, targets) = batch(step: 5)
        let starts = BatchSampler.trainingWindowStarts(tokenCount: text.count, batch: 8, sequence: 32,
                                                       seed: 7, round: 3, client: 2, step: 5)
        XCTAssertEqual(starts.count, 8)
        for (row, start) in starts.enumerated() {
            XCTAssertTrue((0...(text.count - 33)).contains(start))
            let window = Array(text[start..<(start + 33)])
            XCTAssertEqual(Array(inputs[(row * 32)..<(row * 32 + 32)]), Array(window[0..<32]))
            XCTAssertEqual(Array(targets[(row * 32)..<(row * 32 + 32)]), Array(window[1...32]))
        }
    }

    func testStartsCoverTheWholeTextIncludingBothEnds() {
        // A 40-byte text with sequence 32 has 8 possible starts; many draws must hit all of them.
        var seen = Set<Int>()
        for step in 0..<50 {
            seen.formUnion(BatchSampler.trainingWindowStarts(tokenCount: 40, batch: 4, sequence: 32,
                                                             seed: 1, round: 0, client: 0, step: step))
        }
        XCTAssertEqual(seen, Set(0...7))
    }

    func testATextOfExactlyOneWindowAlwaysGivesThatWindow() {
        let small = sampleText(33)
        let (inputs, targets) = BatchSampler.trainingBatch(tokens: small, batch: 3, sequence: 32,
                                                           seed: 9, round: 1, client: 1, step: 1)
        XCTAssertEqual(inputs, Array(repeating: Array(small[0..<32]), count: 3).flatMap { $0 })
        XCTAssertEqual(targets, Array(repeating: Array(small[1...32]), count: 3).flatMap { $0 })
    }
}

final class ValidationBatchTests: XCTestCase {
    private let text = sampleText(10_001)

    func testValidationBatchesAreDeterministicAndCapped() {
        let first = BatchSampler.validationBatches(tokens: text, batch: 4, sequence: 25, maxBatches: 3)
        let second = BatchSampler.validationBatches(tokens: text, batch: 4, sequence: 25, maxBatches: 3)
        XCTAssertEqual(first.count, 3)
        XCTAssertEqual(first.map(\.inputs), second.map(\.inputs))
        XCTAssertEqual(first.map(\.targets), second.map(\.targets))
        XCTAssertTrue(first.allSatisfy { $0.inputs.count == 4 * 25 && $0.targets.count == 4 * 25 })
    }

    func testValidationWindowsAreInsideSpreadAndNonOverlapping() {
        let starts = BatchSampler.validationWindowStarts(tokenCount: text.count, batch: 4, sequence: 25, maxBatches: 3)
        let batches = BatchSampler.validationBatches(tokens: text, batch: 4, sequence: 25, maxBatches: 3)
        let flat = starts.flatMap { $0 }
        XCTAssertEqual(flat.count, 12)
        XCTAssertEqual(flat.first, 0)
        XCTAssertGreaterThan(flat.last!, text.count * 3 / 4, "windows should reach the end of the text")
        for (previous, next) in zip(flat, flat.dropFirst()) {
            XCTAssertGreaterThanOrEqual(next - previous, 25, "targets overlap")
        }
        for (batchIndex, rows) in starts.enumerated() {
            for (row, start) in rows.enumerated() {
                XCTAssertLessThanOrEqual(start + 26, text.count)
                let window = Array(text[start..<(start + 26)])
                XCTAssertEqual(Array(batches[batchIndex].inputs[(row * 25)..<(row * 25 + 25)]), Array(window[0..<25]))
                XCTAssertEqual(Array(batches[batchIndex].targets[(row * 25)..<(row * 25 + 25)]), Array(window[1...25]))
            }
        }
    }

    func testWindowsThatDoNotFillABatchAreDroppedEvenly() {
        // 101 bytes with sequence 10 hold ten windows (0, 10, ..., 90): two full batches of 4 use
        // eight of them, spread over the whole text.
        let starts = BatchSampler.validationWindowStarts(tokenCount: 101, batch: 4, sequence: 10, maxBatches: 100)
        XCTAssertEqual(starts, [[0, 10, 20, 30], [50, 60, 70, 80]])
        let batches = BatchSampler.validationBatches(tokens: sampleText(101), batch: 4, sequence: 10, maxBatches: 100)
        XCTAssertEqual(batches.map { $0.inputs.count }, [40, 40])
    }

    func testTextShorterThanABatchOfWindowsGivesOneFullBatch() {
        // 20 bytes, sequence 10: one non-overlapping window, so four overlapping ones spread over 0...9.
        XCTAssertEqual(BatchSampler.validationWindowStarts(tokenCount: 20, batch: 4, sequence: 10, maxBatches: 5),
                       [[0, 3, 6, 9]])
        let batches = BatchSampler.validationBatches(tokens: sampleText(20), batch: 4, sequence: 10, maxBatches: 5)
        XCTAssertEqual(batches.count, 1)
        XCTAssertEqual(batches[0].targets.count, 40)
        XCTAssertEqual(Array(batches[0].inputs[30..<40]), Array(sampleText(20)[9..<19]))
        XCTAssertEqual(Array(batches[0].targets[30..<40]), Array(sampleText(20)[10..<20]))
    }

    func testTextShorterThanOneWindowGivesNoBatches() {
        XCTAssertTrue(BatchSampler.validationBatches(tokens: sampleText(10), batch: 4, sequence: 10, maxBatches: 5).isEmpty)
        XCTAssertTrue(BatchSampler.validationBatches(tokens: text, batch: 4, sequence: 10, maxBatches: 0).isEmpty)
        XCTAssertEqual(BatchSampler.validationWindowStarts(tokenCount: 11, batch: 2, sequence: 10, maxBatches: 5), [[0, 0]])
    }
}
