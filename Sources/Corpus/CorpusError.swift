/// A corpus problem the user can fix.
///
/// Each `description` is one line: what is wrong, then (after an em dash) what to do about it,
/// so the CLI can print it as is.
public enum CorpusError: Error, CustomStringConvertible, Equatable {
    /// Nothing exists at `path`.
    case missing(path: String)
    /// `path` exists but holds no usable text (only binary, hidden, empty or linked files).
    case empty(path: String)
    /// The by-file partition was asked for more clients than there are usable documents.
    case tooFewDocuments(requested: Int, available: Int, path: String)
    /// The by-file partition was asked for fewer clients than there are usable documents.
    /// An error rather than silently dropping (or arbitrarily merging) whole categories.
    case clientCountMismatch(requested: Int, available: Int, path: String)
    /// A file or folder exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The IID partition would give clients fewer tokens than one training window.
    case shardsTooSmall(clients: Int, trainingTokens: Int, window: Int)
    /// The whole corpus's training text is shorter than one training window (sequence + 1).
    case tooShort(trainingTokens: Int, window: Int, path: String)
    /// A federation setting is out of range or contradicts another.
    case invalidSetting(name: String, value: String, expected: String)
    /// `data.categories` or `data.exclude_categories` names files the corpus does not have.
    case unknownCategories(key: String, unknown: [String], available: [String], path: String)
    /// A record of JSONL instruction data cannot be used, and `data.bad_records = "stop"`.
    case badRecord(path: String, line: Int, reason: String, others: Int)
    /// A JSONL file holds no usable record.
    case noRecords(path: String, bad: Int)

    public var description: String {
        switch self {
        case .missing(let path):
            return "corpus not found: \(path) — set data.corpus in the job file to a text file or a folder of text files "
                + "(Debian's fortunes: apt-get install fortunes)"
        case .empty(let path):
            return "corpus has no usable text: \(path) — point data.corpus at a text file or a folder of text files "
                + "(binary, hidden and empty files and links to files in the same folder are skipped)"
        case .tooFewDocuments(let requested, 0, let path):
            return "no document in \(Self.label(path)) is long enough for one training sequence, so data.partition = \"by-file\" "
                + "has no client (\(requested) wanted) — use data.partition = \"iid\" with data.clients = 1 (the documents are "
                + "joined), shorten train.sequence, or use a larger corpus"
        case .tooFewDocuments(let requested, let available, let path):
            return "too few documents for \(requested) clients: \(available) usable in \(Self.label(path)) "
                + "(data.partition = \"by-file\" makes one client per document) — use data.partition = \"iid\" for "
                + "\(requested) clients, or set data.clients = \(available) or leave it out"
        case .clientCountMismatch(let requested, let available, let path):
            return "\(requested) clients requested but \(Self.label(path)) has \(available) usable documents "
                + "(data.partition = \"by-file\" makes one client per document) — set data.clients = \(available) "
                + "or leave it out, or use data.partition = \"iid\" for \(requested) clients"
        case .unreadable(let path, let reason):
            return "cannot read corpus file \(path): \(reason) — check its permissions, or move it out of the corpus folder"
        case .shardsTooSmall(let clients, let tokens, let window):
            return "\(tokens) training bytes cannot give \(clients) IID clients \(window) bytes each (one sequence + 1) "
                + "— set data.clients to at most \(max(tokens / max(window, 1), 0)), shorten train.sequence, "
                + "or use a larger corpus"
        case .tooShort(let tokens, let window, let path):
            return "\(Self.label(path)) is shorter than one training sequence: its training text has \(tokens) tokens "
                + "(bytes, with the byte tokenizer), one sequence needs \(window) (train.sequence + 1) — use a larger corpus"
                + (tokens >= 3 ? ", or set train.sequence to at most \(tokens - 1)" : "")
        case .invalidSetting(let name, let value, let expected):
            return "invalid \(name) = \(value) — expected \(expected)"
        case .badRecord(let path, let line, let reason, let others):
            return "\(path):\(line): \(reason) — fix the record, or set data.bad_records = \"skip\" to leave bad records out "
                + "(counted, and listed in partition.h5)" + (others > 0 ? "; \(others) more bad record\(others == 1 ? "" : "s") follow" : "")
        case .noRecords(let path, let bad):
            return "\(path) holds no usable instruction record" + (bad > 0 ? " (\(bad) bad ones skipped)" : "")
                + " — write one JSON object per line with 'instruction' and 'output', or 'messages' (docs/DATA.md)"
        case .unknownCategories(let key, let unknown, let available, let path):
            return "\(key) names \(unknown.map { "'\($0)'" }.joined(separator: ", ")), not a usable file of \(Self.label(path)) "
                + "— use file names from: \(available.joined(separator: ", "))"
        }
    }

    /// `federate` does not know where its documents came from unless told; say "the corpus" then.
    private static func label(_ path: String) -> String {
        path.isEmpty ? "the corpus" : path
    }
}
