@testable import FedCyBGDCLI
import Foundation
import XCTest

/// `data.categories`, `data.exclude_categories` and `model.init` from a checkpoint, through the
/// job parser and the real binary.
final class CategoryAndInitTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws { folder = try ProgramRunner.scratch() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func job(_ data: String) -> String {
        "name = \"x\"\n[data]\ncorpus = \"/usr/share/games/fortunes\"\n\(data)\n[train]\nrounds = 1\n"
    }

    func testCategoriesAreRecordedAndUnsafeOnResume() throws {
        let only = try JobFile.parse(text: job("categories = [\"art\", \"computers\"]"), path: "a.toml")
        XCTAssertEqual(only.categories, ["art", "computers"])
        XCTAssertTrue(only.effectiveTOML.contains("categories = [\"art\", \"computers\"]"), only.effectiveTOML)
        // The stored job reads back to the same selection, so a resume compares like with like.
        XCTAssertEqual(try JobFile.parse(text: only.effectiveTOML, path: "b.toml").categories, ["art", "computers"])
        let other = try JobFile.parse(text: job("categories = [\"art\"]"), path: "c.toml")
        let changed = other.differences(from: only).map(\.key)
        XCTAssertEqual(changed, ["data.categories"])
        XCTAssertFalse(JobFile.safeToChangeOnResume.contains("data.categories"))
        let excluded = try JobFile.parse(text: job("exclude_categories = [\"art\"]"), path: "d.toml")
        XCTAssertEqual(excluded.differences(from: only).map(\.key).sorted(), ["data.categories", "data.exclude_categories"])
        // A job without the keys stores nothing new, so older runs still resume.
        let plain = try JobFile.parse(text: job(""), path: "e.toml")
        XCTAssertFalse(plain.effectiveTOML.contains("categories"))
    }

    func testBadCategoryKeysAreRefused() throws {
        for (data, needle) in [("categories = [\"art\"]\nexclude_categories = [\"love\"]", "both set"),
                               ("categories = []", "is empty"), ("categories = \"art\"", "list of strings"),
                               ("categories = [\"art\", \"art\"]", "twice")] {
            XCTAssertThrowsError(try JobFile.parse(text: job(data), path: "x.toml")) { error in
                XCTAssertTrue("\(error)".contains(needle), "\(data): \(error)")
            }
        }
    }

    func testUnknownCategoryThroughTheBinary() throws {
        let path = try ProgramRunner.tinyJob(in: folder, data: "categories = [\"art\", \"poetry\"]")
        let result = try ProgramRunner.run(["train", path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.error.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1, result.error)
        XCTAssertTrue(result.error.contains("'poetry'") && result.error.contains("computers"), result.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs/tiny/history.h5").path))
    }

    func testSelectionDecidesTheClients() throws {
        let path = try ProgramRunner.tinyJob(in: folder, data: "categories = [\"art\", \"computers\", \"love\"]")
        let result = try ProgramRunner.run(["train", path])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains(" 3 clients"), result.output)
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/bin/h5dump")
        dump.arguments = ["-a", "/client_names", folder.appendingPathComponent("runs/tiny/partition.h5").path]
        let pipe = Pipe()
        dump.standardOutput = pipe
        try dump.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        dump.waitUntilExit()
        // h5dump prints the newline-separated names over several lines; compare words only.
        XCTAssertTrue(text.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("\"art computers love\""), text)
    }
}
