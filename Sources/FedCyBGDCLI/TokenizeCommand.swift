import ArgumentParser
import Corpus
import Foundation
import GPT

/// `fedcybgd tokenize`: a BPE tokenizer (GPT-2's files or a Hugging Face tokenizer.json) on its
/// own, to compare it with a reference tokenizer and to measure its speed (docs/MODELS.md).
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode or decode text with a BPE tokenizer (GPT-2 files or a tokenizer.json), or measure its speed.",
        discussion: """
            Prints the ids of each file's text, space-separated, one line per file (or per input line \
            with --lines, or per JSON string line with --json-lines). A tokenizer.json's post-processor \
            tokens (Llama's <s>) are included. --decode reads lines of ids and prints each line's text as \
            a JSON string (a tokenizer.json's special tokens skipped, as in `tokenizers`). --bench encodes \
            files or corpus folders and reports MB/s.
            """)

    @Argument(help: "Text files (with --bench, also corpus folders); with --decode, files of id lines.")
    var files: [String]

    @Option(help: "A tokenizer.json, or a folder with one or with vocab.json and merges.txt (a Hugging Face model folder, or runs/<name>/tokenizer).")
    var tokenizer: String?

    @Option(help: "vocab.json (with --merges, instead of --tokenizer).") var vocab: String?
    @Option(help: "merges.txt (with --vocab, instead of --tokenizer).") var merges: String?

    @Flag(help: "Encode each line (without its newline) on its own; print one line of ids per line.")
    var lines = false

    @Flag(help: "Each input line is a JSON string: encode each string on its own (lets a line hold newlines).")
    var jsonLines = false

    @Flag(help: "Decode lines of space-separated ids instead of encoding.")
    var decode = false

    @Flag(help: "Encode the files three times with a cold cache and report the speed.")
    var bench = false

    func run() throws {
        let bpe = try loadTokenizer()
        if bench { return try benchmark(bpe) }
        var out = ""
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError("cannot read \(file); check the path")
            }
            let bytes = [UInt8](data)
            if decode {
                out += try decodeLines(bytes, bpe, file: file)
            } else if lines || jsonLines {
                var pieces = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
                if bytes.last == UInt8(ascii: "\n") { pieces.removeLast() }
                if jsonLines { pieces = try pieces.enumerated().map { try jsonLine($1, number: $0 + 1, file: file) } }
                for ids in bpe.encode(documents: pieces) { out += ids.map(String.init).joined(separator: " ") + "\n" }
            } else {
                out += bpe.encode(utf8: bytes).map(String.init).joined(separator: " ") + "\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    private func loadTokenizer() throws -> any TextTokenizer {
        switch (tokenizer, vocab, merges) {
        case let (path?, nil, nil):
            if path.hasSuffix(".json") { return try HuggingFaceTokenizer(path: path) }
            guard let source = TokenizerSource.inFolder(path) else {
                throw CLIError("\(path) holds neither tokenizer.json nor vocab.json; give a tokenizer.json or a folder with one, or with vocab.json and merges.txt")
            }
            return try source.load()
        case let (nil, vocab?, merges?): return try BPETokenizer(vocabPath: vocab, mergesPath: merges)
        default: throw CLIError("name the tokenizer with --tokenizer PATH, or with both --vocab FILE and --merges FILE")
        }
    }

    /// The text of one `--json-lines` line.
    private func jsonLine(_ line: [UInt8], number: Int, file: String) throws -> [UInt8] {
        guard let data = try? JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]), let text = data as? String else {
            throw CLIError("\(file) line \(number) is not a JSON string; with --json-lines give one JSON string per line")
        }
        return Array(text.utf8)
    }

    private func decodeLines(_ bytes: [UInt8], _ bpe: any TextTokenizer, file: String) throws -> String {
        var out = ""
        var rows = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if rows.last?.isEmpty == true { rows.removeLast() }
        for (number, line) in rows.enumerated() {
            let fields = line.split(separator: " ")
            let ids = try fields.map { field -> TokenID in
                guard let id = TokenID(field) else { throw CLIError("\(file) line \(number + 1): '\(field)' is not a token id; give space-separated integers") }
                return id
            }
            out += jsonQuoted(bpe.decode(ids)) + "\n"
        }
        return out
    }

    private func benchmark(_ bpe: any TextTokenizer) throws {
        let documents = try files.flatMap { try CorpusLoader.loadBytes(path: $0).map(\.bytes) }
        let bytes = documents.reduce(0) { $0 + $1.count }
        var seconds: [Double] = []
        var tokens = 0
        for _ in 0..<3 {
            let started = Date()
            tokens = bpe.encode(documents: documents).reduce(0) { $0 + $1.count }
            seconds.append(Date().timeIntervalSince(started))
        }
        let best = seconds.min()!, median = seconds.sorted()[1]
        let merges = (bpe as? BPETokenizer)?.mergeCount ?? (bpe as? HuggingFaceTokenizer)?.mergeCount ?? 0
        ProgressPrinter.say(String(format: "%d bytes in %d documents → %d tokens (%.2f bytes/token, vocab %d, %d merges)",
                                   bytes, documents.count, tokens, Double(bytes) / Double(max(tokens, 1)), bpe.vocabularySize, merges))
        ProgressPrinter.say(String(format: "encode, cold cache, 1 thread: median %.1f MB/s, best %.1f MB/s (%.3f s)",
                                   Double(bytes) / 1e6 / median, Double(bytes) / 1e6 / best, best))
    }
}
