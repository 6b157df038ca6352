import XCTest

/// Bad input gets one clear line naming the problem and the remedy, and a non-zero exit.
final class BadInputTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws { folder = try ProgramRunner.scratch() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func assertFails(_ job: String, mentioning needles: [String], ranks: Int? = nil,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try ProgramRunner.run(["train", job], ranks: ranks)
        XCTAssertNotEqual(result.status, 0, "expected failure; printed: \(result.output)", file: file, line: line)
        let lines = result.error.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(lines.count, 1, "one error line expected, got: \(result.error)", file: file, line: line)
        for needle in needles {
            XCTAssertTrue(result.error.contains(needle), "'\(needle)' missing from: \(result.error)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs/tiny/history.h5").path),
                       "a failed start must not write a run", file: file, line: line)
    }

    func testMissingCorpus() throws {
        let job = try ProgramRunner.tinyJob(in: folder, corpus: "/nonexistent/corpus")
        try assertFails(job, mentioning: ["/nonexistent/corpus", "not found"])
    }

    func testMissingCorpusUnderMPIPrintsOneLine() throws {
        let job = try ProgramRunner.tinyJob(in: folder, corpus: "/nonexistent/corpus")
        try assertFails(job, mentioning: ["/nonexistent/corpus"], ranks: 3)
    }

    func testUnknownJobKey() throws {
        let job = try ProgramRunner.tinyJob(in: folder, train: "local_step = 3")
        try assertFails(job, mentioning: ["unknown key 'train.local_step'", "local_steps"])
    }

    func testMalformedJobFile() throws {
        let path = folder.appendingPathComponent("broken.toml")
        try "name = \"tiny\n[model\nlayers = ".write(to: path, atomically: true, encoding: .utf8)
        try assertFails(path.path, mentioning: ["broken.toml", "not valid TOML"])
    }

    func testMissingJobFile() throws {
        try assertFails(folder.appendingPathComponent("nope.toml").path, mentioning: ["nope.toml", "cannot read"])
    }

    func testMoreClientsThanDocumentsWhenPartitioningByFile() throws {
        let job = try ProgramRunner.tinyJob(in: folder, data: "clients = 500")
        try assertFails(job, mentioning: ["500"])
    }
}
