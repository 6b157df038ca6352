import Corpus
import XCTest

final class FederateTests: XCTestCase {
    private let documents = [
        TextDocument(name: "alpha", tokens: sampleText(1000, salt: 1)),
        TextDocument(name: "beta", tokens: sampleText(2000, salt: 2)),
        TextDocument(name: "gamma", tokens: sampleText(500, salt: 3)),
    ]

    private var expectedTails: [TokenID] {
        Array(documents[0].tokens[900...]) + Array(documents[1].tokens[1800...]) + Array(documents[2].tokens[450...])
    }

    func testByFileMakesOneClientPerDocumentFromTheHeads() throws {
        let corpus = try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                               validationFraction: 0.1, sequence: 16).corpus
        XCTAssertEqual(corpus.clients.map(\.client), [0, 1, 2])
        XCTAssertEqual(corpus.clients.map(\.name), ["alpha", "beta", "gamma"])
        XCTAssertEqual(corpus.clients.map(\.sampleCount), [900, 1800, 450])
        for (shard, document) in zip(corpus.clients, documents) {
            XCTAssertEqual(shard.data.text, Array(document.tokens.prefix(shard.sampleCount)))
        }
        XCTAssertEqual(corpus.validation, .text(expectedTails))
        XCTAssertTrue(corpus.notices.isEmpty)
    }

    func testByFileAcceptsAMatchingClientCount() throws {
        let corpus = try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: 3), seed: 0,
                                               validationFraction: 0.1, sequence: 16).corpus
        XCTAssertEqual(corpus.clients.count, 3)
    }

    func testByFileWithMoreClientsThanDocumentsThrows() {
        XCTAssertThrowsError(try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: 5), seed: 0,
                                                       validationFraction: 0.1, sequence: 16, source: "/data/x")) { error in
            XCTAssertEqual(error as? CorpusError, .tooFewDocuments(requested: 5, available: 3, path: "/data/x"))
            let message = String(describing: error)
            XCTAssertTrue(message.contains("5") && message.contains("3") && message.contains("/data/x"))
            XCTAssertTrue(message.contains("partition = \"iid\""))
            XCTAssertFalse(message.contains("\n"))
        }
    }

    func testByFileWithFewerClientsThanDocumentsThrows() {
        XCTAssertThrowsError(try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: 2), seed: 0,
                                                       validationFraction: 0.1, sequence: 16)) { error in
            XCTAssertEqual(error as? CorpusError, .clientCountMismatch(requested: 2, available: 3, path: ""))
            XCTAssertTrue(String(describing: error).contains("the corpus"))
        }
    }

    func testSmallDocumentIsSkippedWithANoticeAndKeepsItsValidationTail() throws {
        let tiny = TextDocument(name: "tiny", tokens: sampleText(20, salt: 9))
        let corpus = try CorpusLoader.federate(documents: documents + [tiny], scheme: .byFile(clients: nil), seed: 0,
                                               validationFraction: 0.1, sequence: 32).corpus
        XCTAssertEqual(corpus.clients.map(\.name), ["alpha", "beta", "gamma"])
        XCTAssertEqual(corpus.notices.count, 1)
        let notice = try XCTUnwrap(corpus.notices.first)
        XCTAssertTrue(notice.contains("'tiny'") && notice.contains("18 training bytes") && notice.contains("of 20"), notice)
        XCTAssertEqual(corpus.validation, .text(expectedTails + Array(tiny.tokens[18...])))
    }

    func testSkippedDocumentsCountAgainstTheRequestedClients() {
        let tiny = TextDocument(name: "tiny", tokens: sampleText(20))
        XCTAssertThrowsError(try CorpusLoader.federate(documents: documents + [tiny], scheme: .byFile(clients: 4), seed: 0,
                                                       validationFraction: 0.1, sequence: 32)) { error in
            XCTAssertEqual(error as? CorpusError, .tooFewDocuments(requested: 4, available: 3, path: ""))
        }
    }

    func testIIDCutsTheConcatenatedHeadsIntoNearEqualContiguousShards() throws {
        let corpus = try CorpusLoader.federate(documents: documents, scheme: .iid(clients: 4), seed: 0,
                                               validationFraction: 0.1, sequence: 16).corpus
        let heads = Array(documents[0].tokens[..<900]) + Array(documents[1].tokens[..<1800]) + Array(documents[2].tokens[..<450])
        XCTAssertEqual(corpus.clients.map(\.client), [0, 1, 2, 3])
        XCTAssertEqual(corpus.clients.map(\.name), ["iid-0", "iid-1", "iid-2", "iid-3"])
        // Concatenating the shards in order gives back the training text: disjoint, contiguous, complete.
        XCTAssertEqual(corpus.clients.flatMap(\.data.text), heads)
        let sizes = corpus.clients.map(\.sampleCount)
        XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
        XCTAssertEqual(sizes.reduce(0, +), 3150)
        XCTAssertEqual(corpus.validation, .text(expectedTails))
    }

    func testIIDKeepsDocumentsTooSmallForByFile() throws {
        let tiny = TextDocument(name: "tiny", tokens: sampleText(20))
        let corpus = try CorpusLoader.federate(documents: documents + [tiny], scheme: .iid(clients: 2), seed: 0,
                                               validationFraction: 0.1, sequence: 32).corpus
        XCTAssertEqual(corpus.clients.map(\.sampleCount).reduce(0, +), 3150 + 18)
        XCTAssertTrue(corpus.notices.isEmpty)
    }

    func testCorpusShorterThanOneWindowSaysSoWhateverThePartition() {
        let tiny = [TextDocument(name: "three", tokens: sampleText(3))]
        for scheme in [PartitionScheme.byFile(clients: nil), .iid(clients: 1)] {
            XCTAssertThrowsError(try CorpusLoader.federate(documents: tiny, scheme: scheme, seed: 0,
                                                           validationFraction: 0.1, sequence: 32, source: "/x/three")) { error in
                XCTAssertEqual(error as? CorpusError, .tooShort(trainingTokens: 3, window: 33, path: "/x/three"))
                let text = String(describing: error)
                XCTAssertTrue(text.contains("shorter than one training sequence") && text.contains("at most 2"), text)
                XCTAssertFalse(text.contains("at most 0"), text)
            }
        }
    }

    func testIIDWithShardsSmallerThanAWindowThrows() {
        // 3150 training bytes over 100 clients is 31 each, less than a 33-byte window.
        XCTAssertThrowsError(try CorpusLoader.federate(documents: documents, scheme: .iid(clients: 100), seed: 0,
                                                       validationFraction: 0.1, sequence: 32)) { error in
            XCTAssertEqual(error as? CorpusError, .shardsTooSmall(clients: 100, trainingTokens: 3150, window: 33))
            XCTAssertTrue(String(describing: error).contains("at most 95"))
        }
    }

    func testOutOfRangeSettingsThrow() {
        for fraction in [-0.1, 1.0, .nan] {
            XCTAssertThrowsError(try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                                           validationFraction: fraction, sequence: 16), "\(fraction)")
        }
        XCTAssertThrowsError(try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                                       validationFraction: 0.1, sequence: 0))
    }

    func testZeroValidationFractionTrainsOnEverything() throws {
        let corpus = try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                               validationFraction: 0, sequence: 16).corpus
        XCTAssertEqual(corpus.clients.map(\.data.text), documents.map(\.tokens))
        XCTAssertEqual(corpus.validation, .text([]))
    }
}
