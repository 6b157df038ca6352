import Corpus
import Foundation
import XCTest

/// The default corpus end to end, with the settings the example jobs use.
final class FortunesTests: XCTestCase {
    func testFortunesByFileAtSequence128() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fortunesFolder), "fortunes not installed")
        let documents = try CorpusLoader.load(path: fortunesFolder)
        let corpus = try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                               validationFraction: 0.1, sequence: 128, source: fortunesFolder).corpus
        let total = documents.reduce(0) { $0 + $1.tokens.count }
        let sizes = corpus.clients.map(\.sampleCount).sorted()
        XCTAssertEqual(corpus.clients.count, 43)
        XCTAssertTrue(corpus.notices.isEmpty, "\(corpus.notices)")
        XCTAssertEqual(sizes.reduce(0, +) + corpus.validationTokenCount, total)
        XCTAssertEqual(Double(corpus.validationTokenCount) / Double(total), 0.1, accuracy: 0.001)
        XCTAssertGreaterThanOrEqual(sizes.first!, 129)
        print("fortunes: \(documents.count) documents, \(total) bytes, validation \(corpus.validationTokenCount); "
            + "training bytes per client min \(sizes.first!) median \(sizes[sizes.count / 2]) max \(sizes.last!)")
        for shard in corpus.clients.sorted(by: { $0.sampleCount < $1.sampleCount }).prefix(3) {
            print("  smallest: \(shard.name) \(shard.sampleCount)")
        }
    }

    func testFortunesAtLongSequenceSkipsOnlyTheTinyCategories() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fortunesFolder), "fortunes not installed")
        let documents = try CorpusLoader.load(path: fortunesFolder)
        let corpus = try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                               validationFraction: 0.1, sequence: 1024).corpus
        let skipped = Set(documents.map(\.name)).subtracting(corpus.clients.map(\.name))
        XCTAssertEqual(skipped, ["pratchett"])
        XCTAssertEqual(corpus.notices.count, 1)
        XCTAssertTrue(corpus.notices[0].contains("'pratchett'"))
        print("fortunes at sequence 1024: \(corpus.notices)")
    }
}
