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

    func testBinaryJobFileSaysItIsNotText() throws {
        let path = folder.appendingPathComponent("binary.toml")
        try Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00]).write(to: path)
        try assertFails(path.path, mentioning: ["binary.toml", "not UTF-8 text", "binary"])
        let result = try ProgramRunner.run(["train", path.path])
        XCTAssertFalse(result.error.contains("check the path"), result.error)
    }

    func testNonUTF8JobFileSaysSoAndWhere() throws {
        let path = folder.appendingPathComponent("latin1.toml")
        try Data("name = \"caf".utf8 + [0xE9] + "\"\n".utf8).write(to: path)
        try assertFails(path.path, mentioning: ["latin1.toml", "not UTF-8 text", "0xE9", "offset 11", "iconv"])
    }

    func testJobFileThatIsAFolderSaysSo() throws {
        try assertFails(folder.path, mentioning: ["is a folder, not a job file"])
    }

    /// A 3-byte corpus: the message says the file is shorter than one sequence, and no hint
    /// leads to "data.clients to at most 0", by file or IID.
    func testCorpusShorterThanOneSequenceSaysSo() throws {
        let corpus = folder.appendingPathComponent("three.txt")
        try "abc".write(to: corpus, atomically: true, encoding: .utf8)
        for data in ["", "partition = \"iid\"\nclients = 1"] {
            let job = try ProgramRunner.tinyJob(in: folder, corpus: corpus.path, data: data)
            try assertFails(job, mentioning: ["three.txt", "shorter than one training sequence", "3 tokens", "33",
                                              "set train.sequence to at most 2"])
            let result = try ProgramRunner.run(["train", job])
            XCTAssertFalse(result.error.contains("at most 0"), result.error)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path),
                           "a failed start must leave nothing behind")
        }
        // The remedy works: with train.sequence = 2 (and one client per round) the run trains.
        let fixed = try ProgramRunner.tinyJob(in: folder, corpus: corpus.path, train: "rounds = 2")
        let text = try String(contentsOfFile: fixed, encoding: .utf8)
            .replacingOccurrences(of: "sequence = 32", with: "sequence = 2")
            .replacingOccurrences(of: "clients_per_round = 2", with: "clients_per_round = 1")
            .replacingOccurrences(of: "rounds = 8\n", with: "")
        try text.write(toFile: fixed, atomically: true, encoding: .utf8)
        let trained = try ProgramRunner.run(["train", fixed])
        XCTAssertEqual(trained.status, 0, trained.error)
    }

    func testInspectOfAFolderThatDoesNotExistSaysSo() throws {
        let missing = folder.appendingPathComponent("runs/never").path
        let result = try ProgramRunner.run(["inspect", missing])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("\(missing): no such folder"), result.error)
        XCTAssertFalse(result.error.contains("history.h5"), result.error)
        let resumed = try ProgramRunner.run(["resume", missing])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertTrue(resumed.error.contains("no such run folder"), resumed.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "resume must not create the folder")
    }

    func testFailedStartLeavesNothingThatBlocksTheNextStart() throws {
        let job = try ProgramRunner.tinyJob(in: folder, data: "clients = 500")
        try assertFails(job, mentioning: ["500"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
        let good = try ProgramRunner.tinyJob(in: folder, train: "rounds = 2")
        let fixed = try String(contentsOfFile: good, encoding: .utf8).replacingOccurrences(of: "rounds = 8\n", with: "")
        try fixed.write(toFile: good, atomically: true, encoding: .utf8)
        let result = try ProgramRunner.run(["train", good])
        XCTAssertEqual(result.status, 0, result.error)
    }
}
