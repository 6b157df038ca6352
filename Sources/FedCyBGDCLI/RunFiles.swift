import Corpus
import Federation
import Foundation
import GPT

/// The files a run keeps besides HDF5: its tokenizer (`tokenizer/vocab.json` and `merges.txt`,
/// or `tokenizer/tokenizer.json`), which `sample` and `export` read, and the tokenised corpus
/// (`corpus-tokens.bin`).
enum RunFiles {
    static func tokenizerFolder(_ runFolder: String) -> String {
        (runFolder as NSString).appendingPathComponent("tokenizer")
    }

    static func tokenCache(_ runFolder: String) -> String {
        (runFolder as NSString).appendingPathComponent("corpus-tokens.bin")
    }

    /// The run's tokenizer: the one the run folder holds the files of, else bytes.
    static func tokenizer(of runFolder: String) throws -> any TextTokenizer {
        try TokenizerSource.inFolder(tokenizerFolder(runFolder))?.load() ?? ByteTokenizer()
    }

    /// Copies the tokenizer files into the run folder, replacing older copies of either kind.
    static func saveTokenizer(_ source: TokenizerSource, runFolder: String) throws {
        let folder = tokenizerFolder(runFolder)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for name in TokenizerSource.fileNames { try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name)) }
            for (source, name) in source.files {
                try FileManager.default.copyItem(atPath: source, toPath: (folder as NSString).appendingPathComponent(name))
            }
        } catch {
            if DiskFull.limit(of: error) != nil { throw error }
            throw CLIError("cannot copy the tokenizer into \(folder): \(error.localizedDescription); check that the run folder is writable")
        }
    }
}

/// Tokenises a run's corpus, through the run folder's token cache when the tokenizer is BPE.
///
/// Every rank tokenises (or reads the cache) itself, as it loads the corpus itself; only rank
/// 0 writes the cache, after the run folder is ready, so a `--replace` cannot delete it.
final class CorpusTokens {
    let runFolder: String
    /// A fresh encoding waiting to be written to the cache.
    private var pending: (key: UInt64, documents: [TextDocument])?
    /// What happened, for the progress line: "cached", or the encoding speed.
    private(set) var note: String?

    init(runFolder: String) {
        self.runFolder = runFolder
    }

    func load(corpus: String, tokenizer: any TextTokenizer) throws -> [TextDocument] {
        let files = try CorpusLoader.loadBytes(path: corpus)
        guard !(tokenizer is ByteTokenizer) else {
            return files.map { TextDocument(name: $0.name, bytes: $0.bytes) }
        }
        let key = TokenCache.key(fingerprint: tokenizer.fingerprint, files: files)
        if let cached = TokenCache.read(path: RunFiles.tokenCache(runFolder), key: key), cached.count == files.count {
            note = "corpus tokens read from \(RunFiles.tokenCache(runFolder))"
            return cached
        }
        let started = Date()
        let encoded = tokenizer.encode(documents: files.map(\.bytes))
        let seconds = Date().timeIntervalSince(started)
        let bytes = files.reduce(0) { $0 + $1.bytes.count }, tokens = encoded.reduce(0) { $0 + $1.count }
        note = String(format: "BPE-encoded %d bytes into %d tokens in %.2f s (%.1f MB/s)", bytes, tokens, seconds,
                      Double(bytes) / 1e6 / max(seconds, 1e-9))
        let documents = zip(files, encoded).map { TextDocument(name: $0.name, tokens: $1) }
        pending = (key, documents)
        return documents
    }

    /// Writes a fresh encoding to the cache; a failure only costs the next run an encoding,
    /// except a full disk, which would stop the run at its first write anyway, so it stops it now.
    func saveCache() throws {
        guard let pending else { return }
        do {
            try TokenCache.write(path: RunFiles.tokenCache(runFolder), key: pending.key, documents: pending.documents)
            self.pending = nil
        } catch {
            if DiskFull.limit(of: error) != nil { throw error }
            FileHandle.standardError.write(Data("warning: could not write the token cache \(RunFiles.tokenCache(runFolder)): \(error.localizedDescription)\n".utf8))
        }
    }
}

extension RunPlan {
    /// The model the run starts from (rank 0 only).
    func initialParameters(layout: ParameterLayout) throws -> ParameterBuffer {
        try model.initialParameters(layout: layout, seed: settings.seed, jobPath: job.path)
    }

    /// Writes the tokenizer and the token cache into the run folder once `store` has made it;
    /// returns `store`, so the call can wrap the store's creation.
    func savingRunFiles(_ store: RunStore) throws -> RunStore {
        if let source = model.tokenizerSource { try RunFiles.saveTokenizer(source, runFolder: runFolder) }
        try corpusTokens.saveCache()
        if let note = corpusTokens.note { ProgressPrinter.say("note: \(note)") }
        return store
    }
}
