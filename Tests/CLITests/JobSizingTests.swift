import Foundation
import XCTest

/// Jobs are sized before they start: absurd shapes are refused in one line before anything is
/// allocated or written, and `train --dry-run` prints the estimate without creating anything.
final class JobSizingTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws { folder = try ProgramRunner.scratch() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func job(replacing old: String, with new: String) throws -> String {
        let path = try ProgramRunner.tinyJob(in: folder)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains(old))
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testAbsurdSizesAreRefusedAtOnceLeavingNothing() throws {
        for (old, new) in [("width = 32", "width = 1000000"), ("batch = 4", "batch = 1000000000"),
                           ("layers = 2", "layers = 100000")] {
            let path = try job(replacing: old, with: new)
            let started = Date()
            let result = try ProgramRunner.run(["train", path])
            let seconds = Date().timeIntervalSince(started)
            XCTAssertEqual(result.status, 1, "\(new): \(result.output) \(result.error)")
            let lines = result.error.split(separator: "\n").filter { $0.hasPrefix("Error:") }
            XCTAssertEqual(lines.count, 1, "\(new): \(result.error)")
            XCTAssertFalse(result.error.contains("allocate") || result.error.contains("Fatal"), result.error)
            for needle in ["the job needs about", "available", "MemAvailable", "model.width", "train.batch", "model.layers"] {
                XCTAssertTrue(result.error.contains(needle), "\(new): '\(needle)' missing from \(result.error)")
            }
            // A guard against a refusal that only comes after allocating or running, not a speed test:
            // `layers = 100000` used to run for 15 minutes; a loaded CI machine must not fail it.
            XCTAssertLessThan(seconds, 30, "\(new) took \(seconds) s to refuse")
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path),
                           "\(new): a refused job must leave no file (partition.h5 or other)")
        }
    }

    func testDryRunPrintsEachRanksEstimateAndCreatesNothing() throws {
        let path = try ProgramRunner.tinyJob(in: folder)
        let result = try ProgramRunner.run(["train", path, "--dry-run"])
        XCTAssertEqual(result.status, 0, result.error)
        for needle in ["memory estimate", "1 rank (server and clients in one process)", "rank 0 (server)",
                       "(clients)", "fits", "dry run: nothing was created"] {
            XCTAssertTrue(result.output.contains(needle), "'\(needle)' missing from \(result.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
        let absurd = try job(replacing: "layers = 2", with: "layers = 100000")
        let refused = try ProgramRunner.run(["train", absurd, "--dry-run"])
        XCTAssertEqual(refused.status, 0, refused.error)
        XCTAssertTrue(refused.output.contains("does NOT fit"), refused.output)
    }

    func testDryRunUnderMPINamesServerAndClientRanks() throws {
        let path = try ProgramRunner.tinyJob(in: folder)
        let result = try ProgramRunner.run(["train", path, "--dry-run"], ranks: 3)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains("3 ranks: rank 0 (server)") && result.output.contains("ranks 1-2 (clients)"), result.output)
        XCTAssertEqual(result.output.components(separatedBy: "memory estimate").count, 2, "only rank 0 prints: \(result.output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
    }

    func testRefusalUnderMPIEndsEveryRank() throws {
        let path = try job(replacing: "width = 32", with: "width = 1000000")
        let result = try ProgramRunner.run(["train", path], ranks: 3)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.error.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1, result.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
    }
}
