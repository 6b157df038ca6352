import Corpus
import XCTest

/// The one partition type: the job's spellings, and each loader refusing the other's scheme.
final class PartitionSchemeTests: XCTestCase {
    private let documents = [
        TextDocument(name: "alpha", tokens: sampleText(1000, salt: 1)),
        TextDocument(name: "beta", tokens: sampleText(2000, salt: 2)),
    ]

    func testEverySpellingParsesToItsSchemeAndBack() throws {
        let parsed = try PartitionScheme.names.map { try PartitionScheme(parsing: $0, clients: 3, alpha: 0.5) }
        XCTAssertEqual(parsed, [.byFile(clients: 3), .byField(clients: 3), .iid(clients: 3), .dirichlet(clients: 3, alpha: 0.5)])
        XCTAssertEqual(parsed.map(\.name), PartitionScheme.names)
        XCTAssertEqual(try PartitionScheme(parsing: "by-file", clients: nil, alpha: 0.5), .byFile(clients: nil))
    }

    func testUnknownSpellingNamesTheValidOnes() {
        XCTAssertThrowsError(try PartitionScheme(parsing: "random", clients: 2, alpha: 1)) { error in
            XCTAssertEqual("\(error)", "invalid data.partition = \"random\" — expected one of \"by-file\", \"by-field\", \"iid\", \"dirichlet\"")
        }
    }

    func testIIDAndDirichletNeedAClientCount() {
        for name in ["iid", "dirichlet"] {
            XCTAssertThrowsError(try PartitionScheme(parsing: name, clients: nil, alpha: 1)) { error in
                XCTAssertTrue("\(error)".contains("data.clients") && "\(error)".contains("\"\(name)\""), "\(error)")
            }
        }
    }

    func testTextByFileTracesEachClientsFileAndIIDDoesNot() throws {
        let byFile = try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                               validationFraction: 0.1, sequence: 16)
        XCTAssertEqual(byFile.labels, ["alpha", "beta"])
        XCTAssertEqual(byFile.labelTokens, [[900, 0], [0, 1800]])
        let iid = try CorpusLoader.federate(documents: documents, scheme: .iid(clients: 3), seed: 0,
                                            validationFraction: 0.1, sequence: 16)
        XCTAssertEqual(iid.labels, ["alpha", "beta"])
        XCTAssertNil(iid.labelTokens)
    }

    func testTextDirichletIsTheDirichletPartition() throws {
        let split = try CorpusLoader.federate(documents: documents, scheme: .dirichlet(clients: 4, alpha: 0.3), seed: 8,
                                              validationFraction: 0.1, sequence: 16)
        let direct = try DirichletPartition(documents: documents, clients: 4, alpha: 0.3, seed: 8, validationFraction: 0.1, sequence: 16)
        XCTAssertEqual(split.corpus.clients.map(\.data), direct.corpus.clients.map(\.data))
        XCTAssertEqual(split.corpus.validation, direct.corpus.validation)
        XCTAssertEqual(split.labelTokens, direct.labelTokens)
    }

    func testEachLoaderRefusesTheOthersScheme() {
        XCTAssertThrowsError(try CorpusLoader.federate(documents: documents, scheme: .byField(clients: nil), seed: 0,
                                                       validationFraction: 0.1, sequence: 16)) { error in
            XCTAssertTrue("\(error)".contains("data.partition") && "\(error)".contains("\"by-file\", \"iid\" or \"dirichlet\""), "\(error)")
        }
        let record = Array(#"{"task": "a", "instruction": "Say yes.", "output": "yes"}"#.utf8)
        let settings = InstructionSettings(scheme: .byFile(clients: nil), sequence: 64, seed: 1)
        XCTAssertThrowsError(try InstructionLoader.federate(bytes: record, source: "t.jsonl", tokenizer: ByteTokenizer(),
                                                            settings: settings)) { error in
            XCTAssertTrue("\(error)".contains("data.partition") && "\(error)".contains("\"by-field\", \"iid\" or \"dirichlet\""), "\(error)")
        }
    }

    func testTokenDataCountsAndJoinsByKind() {
        let text = TokenData.text(sampleText(10)), more = TokenData.text(sampleText(5, salt: 1))
        XCTAssertEqual(text.sampleCount, 10)
        XCTAssertEqual(text.countedTokens, 10)
        XCTAssertEqual(text.appending(more), .text(sampleText(10) + sampleText(5, salt: 1)))
        let record = TokenizedRecord(line: 1, label: nil, tokens: [1, 2, 3, 4], counted: [false, false, true, true],
                                     promptLength: 2, reference: "")
        let rows = TokenData.rows(TokenRows(records: [record, record], sequence: 8, pack: false, padding: 0))
        XCTAssertEqual(rows.sampleCount, 2 * 8, "rows × sequence positions")
        XCTAssertEqual(rows.countedTokens, 2 * 2, "only the counted targets")
        XCTAssertEqual(rows.appending(rows).sampleCount, 4 * 8)
    }
}
