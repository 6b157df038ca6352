import Corpus
import XCTest

/// `data.categories` / `data.exclude_categories`: which files of a folder corpus a run uses.
final class CategorySelectionTests: XCTestCase {
    private func documents() throws -> [TextDocument] {
        let folder = try makeTemporaryFolder(self)
        for (index, name) in ["art", "computers", "love", "zippy"].enumerated() {
            try write(sampleText(600 + 100 * index, salt: index).map { UInt8($0 % 90 + 32) }, to: "\(folder)/\(name)")
        }
        return try CorpusLoader.load(path: folder)
    }

    func testOnlyKeepsTheNamedFilesInCorpusOrder() throws {
        let chosen = try CategorySelection.only(["zippy", "art"]).apply(to: try documents())
        XCTAssertEqual(chosen.map(\.name), ["art", "zippy"])
        XCTAssertEqual(chosen.map(\.tokens.count), [600, 900])
    }

    func testExcludingKeepsTheRest() throws {
        let chosen = try CategorySelection.excluding(["computers"]).apply(to: try documents())
        XCTAssertEqual(chosen.map(\.name), ["art", "love", "zippy"])
    }

    func testAllKeepsEverything() throws {
        let all = try documents()
        XCTAssertEqual(try CategorySelection.all.apply(to: all), all)
    }

    func testEveryPartitionSeesOnlyTheSelection() throws {
        let chosen = try CategorySelection.only(["art", "love"]).apply(to: try documents())
        let byFile = try CorpusLoader.federate(documents: chosen, scheme: .byFile(clients: nil), seed: 0, validationFraction: 0.1, sequence: 16).corpus
        XCTAssertEqual(byFile.clients.map(\.name), ["art", "love"])
        // The held-out text is the two tails only: 60 + 80 tokens.
        XCTAssertEqual(byFile.validationTokenCount, 140)
        let iid = try CorpusLoader.federate(documents: chosen, scheme: .iid(clients: 3), seed: 0, validationFraction: 0.1, sequence: 16).corpus
        XCTAssertEqual(iid.clients.reduce(0) { $0 + $1.sampleCount }, 540 + 720)
        let dirichlet = try DirichletPartition(documents: chosen, clients: 3, alpha: 0.5, seed: 1, validationFraction: 0.1, sequence: 16)
        XCTAssertEqual(dirichlet.labels, ["art", "love"])
        XCTAssertEqual(dirichlet.corpus.validationTokenCount, 140)
    }

    func testUnknownNameListsTheAvailableOnes() throws {
        XCTAssertThrowsError(try CategorySelection.only(["art", "poetry"]).apply(to: try documents(), source: "/corpus")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("data.categories names 'poetry'"), text)
            XCTAssertTrue(text.contains("art, computers, love, zippy"), text)
            XCTAssertFalse(text.contains("\n"))
        }
        XCTAssertThrowsError(try CategorySelection.excluding(["Art"]).apply(to: try documents())) { error in
            XCTAssertTrue("\(error)".contains("data.exclude_categories names 'Art'"), "\(error)")
        }
    }

    func testExcludingEverythingIsRefused() throws {
        XCTAssertThrowsError(try CategorySelection.excluding(["art", "computers", "love", "zippy"]).apply(to: try documents())) { error in
            XCTAssertTrue("\(error)".contains("at least one file"), "\(error)")
        }
    }

    func testFortunesSelectionByName() throws {
        let all = try CorpusLoader.load(path: fortunesFolder)
        let chosen = try CategorySelection.only(["art", "computers"]).apply(to: all)
        XCTAssertEqual(chosen.map(\.name), ["art", "computers"])
        XCTAssertEqual(try CategorySelection.excluding(["art", "computers"]).apply(to: all).count, all.count - 2)
    }
}
