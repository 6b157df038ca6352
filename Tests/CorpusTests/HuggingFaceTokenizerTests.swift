import Foundation
import XCTest
@testable import Corpus

/// tokenizer.json reading on hand-made files, where every id can be worked out by hand.
/// (Tests/python/test_hf_tokenizer.py compares with Hugging Face `tokenizers` on thousands of lines.)
final class HuggingFaceTokenizerTests: XCTestCase {
    /// A SentencePiece-style file: `▁` for spaces, byte fallback, `<s>` prepended.
    func sentencePiece(merges: String, extraModel: String = "", config: String? = nil) throws -> HuggingFaceTokenizer {
        var vocab = ["\"<unk>\": 0", "\"<s>\": 1", "\"</s>\": 2"]
        vocab += (0..<256).map { String(format: "\"<0x%02X>\": %d", $0, 3 + $0) }
        vocab += ["\"▁\": 259", "\"a\": 260", "\"b\": 261", "\"▁a\": 262", "\"▁ab\": 263", "\"ab\": 264"]
        let json = """
            {"version": "1.0", "added_tokens": [
              {"id": 0, "content": "<unk>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
              {"id": 1, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
              {"id": 2, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
             "pre_tokenizer": null,
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
             "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                         {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
             "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                       "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true \(extraModel),
                       "vocab": {\(vocab.joined(separator: ", "))}, "merges": \(merges)}}
            """
        return try HuggingFaceTokenizer(json: Array(json.utf8), config: config.map { Array($0.utf8) })
    }

    func testMergesAsStringsOrPairsGiveTheSameIDs() throws {
        let strings = try sentencePiece(merges: #"["▁ a", "a b", "▁a b"]"#)
        let pairs = try sentencePiece(merges: #"[["▁", "a"], ["a", "b"], ["▁a", "b"]]"#)
        // "ab ab": ▁ab▁ab; rank 0 joins ▁a twice, then ▁a+b.
        XCTAssertEqual(strings.encode("ab ab"), [1, 263, 263])
        XCTAssertEqual(pairs.encode("ab ab"), [1, 263, 263])
        // "é" (C3 A9) is not in the vocabulary: its byte tokens, 3 + byte.
        XCTAssertEqual(strings.encode("é"), [1, 259, 3 + 0xC3, 3 + 0xA9])
        XCTAssertEqual(strings.decode([1, 263, 259, 3 + 0xC3, 3 + 0xA9]), "ab é")
        XCTAssertEqual(strings.decode([1, 263], skipSpecialTokens: false), "<s> ab")
        XCTAssertEqual(strings.encode(utf8: Array("ab".utf8), addSpecialTokens: false), [263])
    }

    func testAddedTokensAreCutOutOfTheRawTextFirst() throws {
        let tokenizer = try sentencePiece(merges: #"["▁ a", "a b", "▁a b"]"#)
        // After </s> the text is a new stretch, normalized on its own (so ▁ is prepended again).
        XCTAssertEqual(tokenizer.encode("a</s>ab"), [1, 262, 2, 263])
    }

    func testIgnoreMergesTakesAWholeWordFromTheVocabulary() throws {
        // Without rank for "a b", merging ▁ab would never happen; with ignore_merges the word is one token.
        let merging = try sentencePiece(merges: #"["▁ a"]"#)
        let ignoring = try sentencePiece(merges: #"["▁ a"]"#, extraModel: #", "ignore_merges": true"#)
        XCTAssertEqual(merging.encode("ab"), [1, 262, 261])
        XCTAssertEqual(ignoring.encode("ab"), [1, 263])
    }

    func testBosAndEosComeFromTheConfigElseFromTheFile() throws {
        let plain = try sentencePiece(merges: "[]")
        XCTAssertEqual(plain.bos, 1)
        XCTAssertEqual(plain.eos, 2)
        XCTAssertEqual(plain.endOfText, 2)
        let configured = try sentencePiece(merges: "[]", config: #"{"bos_token": {"content": "</s>"}, "eos_token": "<unk>"}"#)
        XCTAssertEqual(configured.bos, 2)
        XCTAssertEqual(configured.eos, 0)
    }

    func testCanonicallyEquivalentTokensStayDistinct() throws {
        // "é" precomposed and "e" + U+0301 are equal Swift Strings but different tokens.
        let json = #"{"model": {"type": "BPE", "vocab": {"\u00e9": 0, "e\u0301": 1, "e": 2, "\u0301": 3}, "merges": ["e \u0301"]}}"#
        let tokenizer = try HuggingFaceTokenizer(json: Array(json.utf8))
        XCTAssertEqual(tokenizer.encode("\u{e9}"), [0])
        XCTAssertEqual(tokenizer.encode("e\u{301}"), [1])
        XCTAssertEqual(tokenizer.vocabularySize, 4)
    }

    func testLlama3PatternSplitsAsTokenizersDoes() {
        // Expected pieces from `tokenizers`' Split(Regex(llama3 pattern), "isolated").pre_tokenize_str.
        func pieces(_ text: String) -> [String] {
            var out: [String] = []
            Array(text.utf8).withUnsafeBufferPointer { buffer in
                Llama3PreTokenizer.split(buffer, maxDigits: 3) { out.append(String(decoding: buffer[$0], as: UTF8.self)) }
            }
            return out
        }
        XCTAssertEqual(pieces("x'ſ y'S 'RE"), ["x", "'ſ", " y", "'S", " '", "RE"])
        XCTAssertEqual(pieces("a\n\n  b"), ["a", "\n\n", " ", " b"])
        XCTAssertEqual(pieces("  \r\n\t x"), ["  \r\n", "\t", " x"])
        XCTAssertEqual(pieces("x\u{301}y"), ["x", "\u{301}y"])
        XCTAssertEqual(pieces("12345 $$x"), ["123", "45", " $$", "x"])
    }

    func testUnsupportedKindsAreRefusedInOneLineNamingThem() {
        let cases = [
            (#"{"model": {"type": "Unigram", "vocab": []}}"#, "Unigram"),
            (#"{"model": {"type": "WordPiece", "vocab": {}}}"#, "WordPiece"),
            (#"{"normalizer": {"type": "NFKC"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#, "NFKC"),
            (#"{"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#, "Whitespace"),
            (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#, "merge 1"),
        ]
        for (json, kind) in cases {
            XCTAssertThrowsError(try HuggingFaceTokenizer(json: Array(json.utf8))) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(kind), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
    }
}
