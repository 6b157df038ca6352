import Foundation
import XCTest
@testable import Corpus

/// The byte-level BPE tokenizer on hand-made vocabularies, where every expected id can be
/// worked out by hand. (Tests/python/test_models.py compares it with Hugging Face `tokenizers`.)
final class BPETokenizerTests: XCTestCase {
    /// A vocabulary whose byte tokens have the byte's value as id, plus `merges` in rank order
    /// (ids from 256 on), plus `<|endoftext|>` last.
    func tokenizer(merges: [(String, String)], endOfText: Bool = true) throws -> BPETokenizer {
        var vocab: [String: Int] = [:]
        for byte in 0..<256 { vocab[String(ByteLevelAlphabet.scalars[byte])] = byte }
        var lines = ["#version: 0.2"]
        for (left, right) in merges {
            let (l, r) = (ByteLevelAlphabet.text(of: Array(left.utf8)), ByteLevelAlphabet.text(of: Array(right.utf8)))
            if vocab[l + r] == nil { vocab[l + r] = vocab.count }
            lines.append("\(l) \(r)")
        }
        if endOfText { vocab[BPETokenizer.endOfTextText] = vocab.count }
        return try BPETokenizer(vocabJSON: try JSONEncoder().encode(vocab), merges: lines.joined(separator: "\n") + "\n")
    }

    /// Only the byte tokenizer's token is a byte: a BPE's losses are per token, even one of 256 ids.
    func testLossUnitIsPerByteOnlyForTheByteTokenizer() throws {
        XCTAssertEqual(ByteTokenizer().lossUnit, .natsPerByte)
        let bpe = try tokenizer(merges: [], endOfText: false)
        XCTAssertEqual(bpe.vocabularySize, 256)
        XCTAssertEqual(bpe.lossUnit, .natsPerToken)
        XCTAssertEqual((bpe as any TextTokenizer).lossUnit, .natsPerToken)
    }

    /// The pre-tokens of `text`, as strings.
    func pieces(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var out: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            GPT2PreTokenizer.split(buffer) { out.append(String(decoding: buffer[$0], as: UTF8.self)) }
        }
        return out
    }

    func testPreTokenisationFollowsGPT2sPattern() {
        XCTAssertEqual(pieces("Hello world's  end"), ["Hello", " world", "'s", " ", " end"])
        XCTAssertEqual(pieces("a\n\n  x"), ["a", "\n\n ", " x"])
        XCTAssertEqual(pieces("x   "), ["x", "   "])
        XCTAssertEqual(pieces("\t\tword"), ["\t", "\t", "word"])
        XCTAssertEqual(pieces("123abc 456"), ["123", "abc", " 456"])
        XCTAssertEqual(pieces("$$ (ok)"), ["$$", " (", "ok", ")"])
        XCTAssertEqual(pieces("don't DON'T we'll I've"), ["don", "'t", " DON", "'", "T", " we", "'ll", " I", "'ve"])
        XCTAssertEqual(pieces("日本語 テスト"), ["日本語", " テスト"])
        XCTAssertEqual(pieces("e\u{301}t\u{e9}"), ["e", "\u{301}", "t\u{e9}"])  // a combining mark is not a letter
        XCTAssertEqual(pieces("a\u{a0}b\u{3000}\u{3000}c"), ["a", "\u{a0}", "b", "\u{3000}", "\u{3000}", "c"])
        XCTAssertEqual(pieces("x²½Ⅻ"), ["x", "²½Ⅻ"])
    }

    func testPreTokensCoverEveryByteEvenInvalidUTF8() {
        let bytes: [UInt8] = [0x61, 0xFF, 0xC3, 0x20, 0xE2, 0x82, 0x62, 0x0A]
        var covered = 0
        bytes.withUnsafeBufferPointer { buffer in
            GPT2PreTokenizer.split(buffer) { range in
                XCTAssertEqual(range.lowerBound, covered)
                covered = range.upperBound
            }
        }
        XCTAssertEqual(covered, bytes.count)
    }

    func testMergesApplyBestRankFirst() throws {
        let abFirst = try tokenizer(merges: [("a", "b"), ("b", "c")])
        XCTAssertEqual(abFirst.encode("abc"), [256, 99])
        let bcFirst = try tokenizer(merges: [("b", "c"), ("a", "b")])
        XCTAssertEqual(bcFirst.encode("abc"), [97, 256])
    }

    func testEqualRanksMergeLeftmostFirst() throws {
        let bpe = try tokenizer(merges: [("a", "a")])
        XCTAssertEqual(bpe.encode("aaa"), [256, 97])
        XCTAssertEqual(bpe.encode("aaaa"), [256, 256])
    }

    func testLongWordsMergeInFull() throws {
        let bpe = try tokenizer(merges: [("a", "a"), ("aa", "aa")])
        XCTAssertEqual(bpe.encode(String(repeating: "a", count: 1002)), Array(repeating: 257, count: 250) + [256])
    }

    func testSpacesAreMergedAsTheirByteCharacters() throws {
        let bpe = try tokenizer(merges: [(" ", "t"), ("h", "e"), (" t", "he")])
        XCTAssertEqual(bpe.encode("the the"), [116, 257, 258])
        XCTAssertEqual(bpe.decode([116, 257, 258]), "the the")
    }

    func testEndOfTextIsOneSpecialToken() throws {
        let bpe = try tokenizer(merges: [])
        let eot = try XCTUnwrap(bpe.endOfText)
        XCTAssertEqual(eot, 256)
        XCTAssertEqual(bpe.encode("a<|endoftext|>b<|endoftext|>"), [97, eot, 98, eot])
        XCTAssertEqual(bpe.encode("<|endoftext"), Array("<|endoftext".utf8).map { TokenID($0) })
        XCTAssertEqual(bpe.decode([97, eot, 98]), "a<|endoftext|>b")
        XCTAssertNil(try tokenizer(merges: [], endOfText: false).endOfText)
    }

    func testDecodingGivesTheTextBack() throws {
        let bpe = try tokenizer(merges: [(" ", "t"), ("h", "e"), ("e", "r"), ("\n", "\n")])
        for text in ["", "there\n\nthe  end ", "naïve café 日本語 👍🏽", "tabs\t\tand\u{a0}nbsp", "it's 42"] {
            XCTAssertEqual(bpe.decode(bpe.encode(text)), text)
        }
        XCTAssertEqual(bpe.encode(documents: [Array("the".utf8), Array("the".utf8)]), [[116, 257], [116, 257]])
    }

    func testAVocabularyWithoutEveryByteIsRefused() {
        let vocab = try! JSONEncoder().encode(["a": 0, "b": 1])
        XCTAssertThrowsError(try BPETokenizer(vocabJSON: vocab, merges: "")) { error in
            XCTAssertTrue("\(error)".contains("lacks the byte token") && "\(error)".contains("256"), "\(error)")
        }
    }

    func testMergesThatDoNotBelongToTheVocabularyAreRefusedWithTheLine() throws {
        var vocab: [String: Int] = [:]
        for byte in 0..<256 { vocab[String(ByteLevelAlphabet.scalars[byte])] = byte }
        let data = try JSONEncoder().encode(vocab)
        XCTAssertThrowsError(try BPETokenizer(vocabJSON: data, merges: "#version: 0.2\na b\n")) { error in
            XCTAssertTrue("\(error)".contains("line 2") && "\(error)".contains("\"ab\""), "\(error)")
        }
        XCTAssertThrowsError(try BPETokenizer(vocabJSON: data, merges: "a b c\n")) { error in
            XCTAssertTrue("\(error)".contains("line 1 is not two tokens"), "\(error)")
        }
    }

    func testByteAlphabetIsGPT2s() {
        XCTAssertEqual(ByteLevelAlphabet.scalars[0x20], "Ġ")
        XCTAssertEqual(ByteLevelAlphabet.scalars[0x0A], "Ċ")
        XCTAssertEqual(ByteLevelAlphabet.scalars[0x41], "A")
        XCTAssertEqual(ByteLevelAlphabet.scalars[0xAD], "\u{143}")
        XCTAssertEqual(Set(ByteLevelAlphabet.scalars).count, 256)
        XCTAssertEqual(ByteLevelAlphabet.bytes(of: "ĠhiĊ"), [0x20, 0x68, 0x69, 0x0A])
    }

    func testTokenCacheRoundTripsAndMissesOnAnotherKey() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder + "/tokens.bin"
        let documents = [TextDocument(name: "a", tokens: [1, 2, 50_000]), TextDocument(name: "bé", tokens: [])]
        try TokenCache.write(path: path, key: 42, documents: documents)
        XCTAssertEqual(TokenCache.read(path: path, key: 42), documents)
        XCTAssertNil(TokenCache.read(path: path, key: 43))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.dropLast(2).write(to: URL(fileURLWithPath: path))
        XCTAssertNil(TokenCache.read(path: path, key: 42))
    }

    func testTokenCacheKeyChangesWithTheCorpusAndTheTokenizer() {
        let files: [(name: String, bytes: [UInt8])] = [("a", [1, 2]), ("b", [3])]
        let key = TokenCache.key(fingerprint: 7, files: files)
        XCTAssertNotEqual(key, TokenCache.key(fingerprint: 8, files: files))
        XCTAssertNotEqual(key, TokenCache.key(fingerprint: 7, files: [("a", [1]), ("b", [2, 3])]))
        XCTAssertNotEqual(key, TokenCache.key(fingerprint: 7, files: [("a", [1, 2]), ("c", [3])]))
        XCTAssertEqual(key, TokenCache.key(fingerprint: 7, files: files))
    }
}
