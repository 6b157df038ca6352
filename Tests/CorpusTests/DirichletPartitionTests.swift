import Corpus
import Foundation
import XCTest

/// The Dirichlet partition on the fortunes corpus: conservation, determinism, and how alpha
/// controls the label mix.
final class DirichletPartitionTests: XCTestCase {
    /// Loaded once (a static let is initialised lazily and exactly once) for all the tests.
    private static let loaded = Result { try CorpusLoader.load(path: fortunesFolder) }

    private func documents() throws -> [TextDocument] {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fortunesFolder), "fortunes not installed")
        return try Self.loaded.get()
    }

    private func partition(alpha: Double, clients: Int = 20, seed: UInt64 = 11, sequence: Int = 64) throws -> DirichletPartition {
        try DirichletPartition(documents: documents(), clients: clients, alpha: alpha, seed: seed,
                               validationFraction: 0.1, sequence: sequence)
    }

    func testEveryTokenIsUsedOnceAndPiecesAreContiguous() throws {
        let documents = try documents()
        XCTAssertEqual(documents.count, 43)
        let split = try partition(alpha: 0.5)
        let byFile = try CorpusLoader.federate(documents: documents, scheme: .iid(clients: 1), seed: 0,
                                               validationFraction: 0.1, sequence: 64).corpus
        XCTAssertEqual(split.corpus.validation, byFile.validation, "the same held-out tails as every other partition")
        XCTAssertEqual(split.clientSizes, split.corpus.clients.map(\.sampleCount))
        XCTAssertEqual(split.clientSizes.reduce(0, +), byFile.clients[0].sampleCount)
        XCTAssertEqual(split.labels, documents.map(\.name))
        // Cutting each client's text back into its label pieces and laying them out client by
        // client rebuilds every file's training head: the pieces are contiguous and in order.
        var rebuilt = [[TokenID]](repeating: [], count: documents.count)
        for (client, shard) in split.corpus.clients.enumerated() {
            var start = 0
            for (label, length) in split.labelTokens[client].enumerated() {
                rebuilt[label].append(contentsOf: shard.data.text[start..<(start + length)])
                start += length
            }
            XCTAssertEqual(start, shard.data.text.count)
            XCTAssertGreaterThanOrEqual(shard.data.text.count, 65, "every client holds a whole window")
        }
        var heads: [TokenID] = []
        for tokens in rebuilt { heads.append(contentsOf: tokens) }
        XCTAssertEqual(heads, byFile.clients[0].data.text)
    }

    func testSameSeedSameSplitOtherSeedOtherSplit() throws {
        let a = try partition(alpha: 0.3, seed: 5), b = try partition(alpha: 0.3, seed: 5), c = try partition(alpha: 0.3, seed: 6)
        XCTAssertEqual(a.labelTokens, b.labelTokens)
        XCTAssertEqual(a.corpus.clients.map(\.data.text), b.corpus.clients.map(\.data.text))
        XCTAssertNotEqual(a.labelTokens, c.labelTokens)
    }

    func testSmallAlphaConcentratesLabelsLargeAlphaMixesThem() throws {
        let skewed = try partition(alpha: 0.1), mixed = try partition(alpha: 100)
        // The corpus-wide label mix, which a near-IID client should resemble.
        let totals = (0..<skewed.labels.count).map { label in skewed.labelTokens.reduce(0) { $0 + $1[label] } }
        let global = totals.map { Double($0) / Double(totals.reduce(0, +)) }
        func meanDistanceToGlobal(_ p: DirichletPartition) -> Double {
            p.labelTokens.map { row in
                let total = Double(row.reduce(0, +))
                return 0.5 * zip(row, global).reduce(0.0) { $0 + abs(Double($1.0) / total - $1.1) }
            }.reduce(0, +) / Double(p.labelTokens.count)
        }
        print("alpha 0.1: entropy \(skewed.meanLabelEntropy), largest share \(skewed.meanLargestLabelShare), "
            + "TV to global \(meanDistanceToGlobal(skewed)); alpha 100: entropy \(mixed.meanLabelEntropy), "
            + "largest share \(mixed.meanLargestLabelShare), TV to global \(meanDistanceToGlobal(mixed))")
        XCTAssertLessThan(skewed.meanLabelEntropy, mixed.meanLabelEntropy - 1, "at least a nat apart")
        XCTAssertGreaterThan(skewed.meanLargestLabelShare, 2.5 * mixed.meanLargestLabelShare)
        XCTAssertGreaterThan(meanDistanceToGlobal(skewed), 0.5)
        XCTAssertLessThan(meanDistanceToGlobal(mixed), 0.1)
    }

    func testClientsWithoutAWindowTakeOneAndTooManyClientsIsAnError() throws {
        // Three short files and 12 clients at alpha 0.05: most clients draw nothing and must be given a window.
        let documents = (0..<3).map { TextDocument(name: "f\($0)", bytes: [UInt8](repeating: UInt8(65 + $0), count: 400)) }
        let split = try DirichletPartition(documents: documents, clients: 12, alpha: 0.05, seed: 1,
                                           validationFraction: 0, sequence: 15)
        XCTAssertTrue(split.clientSizes.allSatisfy { $0 >= 16 }, "\(split.clientSizes)")
        XCTAssertEqual(split.clientSizes.reduce(0, +), 1200)
        XCTAssertFalse(split.corpus.notices.isEmpty)
        XCTAssertTrue(split.corpus.notices.allSatisfy { $0.contains("takes one window of") }, "\(split.corpus.notices)")
        // 1200 bytes hold 75 windows of 16: 76 clients cannot each have one.
        XCTAssertThrowsError(try DirichletPartition(documents: documents, clients: 76, alpha: 1, seed: 1,
                                                    validationFraction: 0, sequence: 15)) {
            XCTAssertTrue("\($0)".contains("at most 75"), "\($0)")
        }
    }

    func testBadSettingsAreRefused() {
        let documents = [TextDocument(name: "a", bytes: [UInt8](repeating: 65, count: 1000))]
        for (alpha, clients) in [(0.0, 2), (-1, 2), (.nan, 2), (.infinity, 2), (1, 0)] {
            XCTAssertThrowsError(try DirichletPartition(documents: documents, clients: clients, alpha: alpha, seed: 1,
                                                        validationFraction: 0.1, sequence: 8)) { error in
                XCTAssertTrue("\(error)".contains(alpha > 0 && alpha.isFinite ? "data.clients" : "data.dirichlet_alpha"), "\(error)")
            }
        }
    }
}
