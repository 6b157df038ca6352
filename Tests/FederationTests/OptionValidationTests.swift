import Federation
import XCTest

/// Every option refuses bad job values with a message naming the key, the value and what is accepted.
final class OptionValidationTests: XCTestCase {
    private func assertRejects(_ body: () throws -> Void, key: String, mentions: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let option = error as? OptionError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(option.key, key, file: file, line: line)
            for phrase in mentions {
                XCTAssertTrue(option.description.contains(phrase), "\(option) lacks \(phrase)", file: file, line: line)
            }
        }
    }

    func testCodecSpellings() throws {
        let good = ["fp32": BlockEncoding.fp32, "fp16": .fp16, "bf16": .bf16, "int8": .int8,
                    "prune:0.25": .prune(density: 0.25), "prune:1": .prune(density: 1)]
        for (text, value) in good {
            let parsed = try BlockEncoding(parsing: text, key: "download.codec")
            XCTAssertEqual(parsed, value)
            XCTAssertEqual(try BlockEncoding(parsing: parsed.description, key: "download.codec"), value, "round-trips")
        }
        let all = ["\"fp32\"", "\"fp16\"", "\"bf16\"", "\"int8\"", "\"prune:<density>\"", "(0, 1]"]
        for bad in ["fp8", "FP16", "", "prune", "prune:", "prune:0", "prune:-0.5", "prune:1.5", "prune:nan", "prune:abc", "int8:4", " fp32"] {
            assertRejects({ _ = try BlockEncoding(parsing: bad, key: "download.codec") },
                          key: "download.codec", mentions: ["= \"\(bad)\""] + all)
        }
    }

    func testUploadCodecAllowsOnlyFp32Fp16Int8() throws {
        for text in ["fp32", "fp16", "int8"] {
            XCTAssertNoThrow(try BlockEncoding(parsing: text, key: "upload.codec", allowed: BlockEncoding.uploadKinds))
        }
        for bad in ["bf16", "prune:0.5"] {
            assertRejects({ _ = try BlockEncoding(parsing: bad, key: "upload.codec", allowed: BlockEncoding.uploadKinds) },
                          key: "upload.codec", mentions: ["one of \"fp32\", \"fp16\", \"int8\""])
        }
    }

    func testScheduleSpellings() throws {
        XCTAssertEqual(try BlockOrder(parsing: "random"), .random)
        XCTAssertEqual(try BlockSet(parsing: "layers"), .layers)
        XCTAssertEqual(try ClientSelection(parsing: "cyclic"), .cyclic)
        assertRejects({ _ = try BlockOrder(parsing: "sideways") }, key: "train.block_order",
                      mentions: ["\"sideways\"", "\"ascending\", \"descending\", \"random\""])
        assertRejects({ _ = try BlockSet(parsing: "Layers") }, key: "train.blocks", mentions: ["\"all\", \"layers\""])
        assertRejects({ _ = try ClientSelection(parsing: "round-robin") }, key: "train.client_selection",
                      mentions: ["\"cyclic\", \"random\""])
    }

    func testLearningRateAndLocalWorkValues() {
        assertRejects({ _ = try LearningRateSchedule(decay: "linear", warmupRounds: nil, floor: nil, totalRounds: 10) },
                      key: "train.lr_schedule", mentions: ["\"constant\", \"cosine\""])
        assertRejects({ _ = try LearningRateSchedule(decay: "cosine", warmupRounds: 10, floor: nil, totalRounds: 10) },
                      key: "train.warmup_rounds", mentions: ["fewer than the run's 10"])
        assertRejects({ _ = try LearningRateSchedule(decay: nil, warmupRounds: -1, floor: nil, totalRounds: 10) },
                      key: "train.warmup_rounds", mentions: ["-1"])
        assertRejects({ _ = try LearningRateSchedule(decay: "cosine", warmupRounds: 0, floor: 1.5, totalRounds: 10) },
                      key: "train.lr_floor", mentions: ["1.5", "[0, 1]"])
        assertRejects({ _ = try LocalWork(steps: 10, epochs: 1) }, key: "train.local_epochs", mentions: ["set one of the two"])
        assertRejects({ _ = try LocalWork(steps: 0, epochs: nil) }, key: "train.local_steps", mentions: ["positive"])
        assertRejects({ _ = try LocalWork(steps: nil, epochs: .infinity) }, key: "train.local_epochs", mentions: ["positive"])
    }

    func testUpdateNormGuardValues() throws {
        XCTAssertEqual(try UpdateNormGuard.Configuration(multiple: nil, absolute: nil, warmup: nil, window: nil), .default)
        XCTAssertEqual(try UpdateNormGuard.Configuration(multiple: 0, absolute: nil, warmup: nil, window: nil).bound, .off)
        XCTAssertEqual(try UpdateNormGuard.Configuration(multiple: nil, absolute: 2.5, warmup: nil, window: nil).bound, .absolute(2.5))
        assertRejects({ _ = try UpdateNormGuard.Configuration(multiple: 0.5, absolute: nil, warmup: nil, window: nil) },
                      key: "server.update_norm_multiple", mentions: ["0.5", "at least 1"])
        assertRejects({ _ = try UpdateNormGuard.Configuration(multiple: 10, absolute: 3, warmup: nil, window: nil) },
                      key: "server.update_norm_multiple", mentions: ["set one of the two"])
        assertRejects({ _ = try UpdateNormGuard.Configuration(multiple: nil, absolute: -1, warmup: nil, window: nil) },
                      key: "server.update_norm_max", mentions: ["positive"])
        assertRejects({ _ = try UpdateNormGuard.Configuration(multiple: nil, absolute: nil, warmup: 0, window: nil) },
                      key: "server.update_norm_warmup", mentions: ["at least 1"])
        assertRejects({ _ = try UpdateNormGuard.Configuration(multiple: nil, absolute: nil, warmup: 5, window: 4) },
                      key: "server.update_norm_window", mentions: ["at least server.update_norm_warmup (5)"])
    }
}
