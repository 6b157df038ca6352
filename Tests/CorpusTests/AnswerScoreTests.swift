import Corpus
import XCTest

/// SQuAD's normalisation, exact match and F1; the expected values are what the official SQuAD
/// evaluation script (normalize_answer, f1_score, exact_match_score) gives for each input.
final class AnswerScoreTests: XCTestCase {
    func testNormalisationIsSQuADs() {
        let cases: [(String, String)] = [
            ("The Cat!", "cat"),
            ("an apple a day", "apple day"),
            ("Theory of the Anarchy", "theory of anarchy"),
            ("  Hund\t 12!\n", "hund 12"),
            ("the\u{2014}end", "\u{2014}end"),
            ("L'été à Paris, the café", "lété à paris café"),
            ("ÜBER-Straße_the a_b", "überstraßethe ab"),
            ("A.B.C.", "abc"),
            ("don't stop", "dont stop"),
        ]
        for (text, expected) in cases { XCTAssertEqual(AnswerScore.normalize(text), expected, text) }
    }

    func testExactMatchAndF1() {
        XCTAssertEqual(AnswerScore.exactMatch("The Hund.", reference: "hund"), 1)
        XCTAssertEqual(AnswerScore.exactMatch("Hunde", reference: "hund"), 0)
        XCTAssertEqual(AnswerScore.f1("the cat sat", reference: "cat sat on mat"), 2.0 / 3.0, accuracy: 1e-12)
        // Shared tokens count with multiplicity: one x and one y of three each.
        XCTAssertEqual(AnswerScore.f1("x x y", reference: "x y y"), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(AnswerScore.f1("Hund", reference: "hund!"), 1)
        XCTAssertEqual(AnswerScore.f1("dog", reference: "cat"), 0)
        // Answers that normalise to nothing: 1 when both do, else 0.
        XCTAssertEqual(AnswerScore.f1("", reference: "the"), 1)
        XCTAssertEqual(AnswerScore.f1("a", reference: "dog"), 0)
    }

    func testTargetOwnersNameTheRecordOfEveryCountedTarget() {
        func record(_ line: Int, _ tokens: [Int32], prompt: Int) -> TokenizedRecord {
            TokenizedRecord(line: line, label: nil, tokens: tokens, counted: tokens.indices.map { $0 >= prompt },
                            promptLength: prompt, reference: "")
        }
        let records = [record(1, [10, 11, 12, 3], prompt: 2), record(2, [20, 21, 3], prompt: 1), record(3, [30, 31, 32, 33, 3], prompt: 3)]
        for pack in [true, false] {
            let rows = TokenRows(records: records, sequence: 8, pack: pack, padding: 3)
            let owners = TokenRows.targetOwners(records: records, sequence: 8, pack: pack)
            XCTAssertEqual(owners.count, rows.targets.count)
            for (target, owner) in zip(rows.targets, owners) {
                XCTAssertEqual(target >= 0, owner >= 0)
                if owner >= 0 { XCTAssertTrue(records[Int(owner)].tokens.dropFirst(records[Int(owner)].promptLength).contains(target)) }
            }
            XCTAssertEqual(Set(owners.filter { $0 >= 0 }), [0, 1, 2])
            XCTAssertEqual(owners.filter { $0 == 2 }.count, 2, "record 3 counts its last two tokens")
        }
    }
}
