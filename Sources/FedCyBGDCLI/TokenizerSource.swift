import Corpus
import Foundation

/// The files a tokenizer is read from: GPT-2's `vocab.json` and `merges.txt`, or a Hugging
/// Face `tokenizer.json` (with the `tokenizer_config.json` beside it, when there is one).
enum TokenizerSource {
    case gpt2(vocab: String, merges: String)
    case huggingFace(json: String)

    /// Every file name a run folder's `tokenizer/` may hold.
    static let fileNames = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"]

    /// The tokenizer in `folder`: its `tokenizer.json` if it has one, else its `vocab.json`
    /// and `merges.txt`, else nil.
    static func inFolder(_ folder: String) -> TokenizerSource? {
        func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        if FileManager.default.fileExists(atPath: file("tokenizer.json")) { return .huggingFace(json: file("tokenizer.json")) }
        if FileManager.default.fileExists(atPath: file("vocab.json")) { return .gpt2(vocab: file("vocab.json"), merges: file("merges.txt")) }
        return nil
    }

    /// Reads the tokenizer.
    func load() throws -> any TextTokenizer {
        switch self {
        case .gpt2(let vocab, let merges): return try BPETokenizer(vocabPath: vocab, mergesPath: merges)
        case .huggingFace(let json): return try HuggingFaceTokenizer(path: json)
        }
    }

    /// The files to keep with a run, each with the name it gets there.
    var files: [(source: String, name: String)] {
        switch self {
        case .gpt2(let vocab, let merges): return [(vocab, "vocab.json"), (merges, "merges.txt")]
        case .huggingFace(let json):
            let config = ((json as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer_config.json")
            return [(json, "tokenizer.json")] + (FileManager.default.fileExists(atPath: config) ? [(config, "tokenizer_config.json")] : [])
        }
    }
}
