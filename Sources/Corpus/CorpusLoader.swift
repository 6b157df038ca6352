import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a corpus from disk and splits it for federated training (see `federate`).
public enum CorpusLoader {
    /// How many leading bytes are checked for a NUL to call a file binary (as `grep` and `git` do).
    static let binaryProbeLength = 8192

    /// Loads a single file, or every text file directly inside a folder, sorted by name.
    ///
    /// In a folder, these are skipped: hidden files, subfolders, empty files, binary files (a NUL
    /// byte in the first 8 KB, e.g. fortune's `.dat` indexes), symbolic links to files in the same
    /// folder (fortune's `.u8` links, which would duplicate a category), and any second name of a
    /// file already loaded. Links to files elsewhere are followed. Sorting is by UTF-8 bytes, so
    /// the document order, and with it client ids, is the same on every machine and locale.
    public static func load(path: String) throws -> [TextDocument] {
        try load(path: path, tokenizer: ByteTokenizer())
    }

    /// `load(path:)`, tokenising each document with `tokenizer` (documents are tokenised one by
    /// one, so no token spans two files).
    public static func load(path: String, tokenizer: any TextTokenizer) throws -> [TextDocument] {
        let files = try loadBytes(path: path)
        let tokens = tokenizer.encode(documents: files.map(\.bytes))
        return zip(files, tokens).map { TextDocument(name: $0.name, tokens: $1) }
    }

    /// The raw bytes of every usable file in `path` (a file or a folder), by the rules of `load`.
    public static func loadBytes(path: String) throws -> [(name: String, bytes: [UInt8])] {
        let expanded = NSString(string: path).expandingTildeInPath
        guard let info = FileInfo(following: expanded) else { throw CorpusError.missing(path: path) }
        if info.isDirectory { return try loadFolder(expanded, shownAs: path) }
        guard info.isRegular, let bytes = try readText(expanded) else { throw CorpusError.empty(path: path) }
        return [((expanded as NSString).lastPathComponent, bytes)]
    }

    private static func loadFolder(_ folder: String, shownAs shown: String) throws -> [(name: String, bytes: [UInt8])] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw CorpusError.unreadable(path: shown, reason: error.localizedDescription)
        }
        let realFolder = canonicalPath(folder) ?? folder
        var seen = Set<FileID>()
        var documents: [(name: String, bytes: [UInt8])] = []
        for name in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !name.hasPrefix(".") {
            let file = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            if isLinkWithinFolder(file, realFolder: realFolder) { continue }
            guard let info = FileInfo(following: file), info.isRegular, seen.insert(info.id).inserted else { continue }
            if let bytes = try readText(file) {
                documents.append((name, bytes))
            }
        }
        if documents.isEmpty { throw CorpusError.empty(path: shown) }
        return documents
    }

    /// True for a symbolic link whose target lies in `realFolder`: that target is either loaded
    /// under its own name or was skipped for a reason that applies to the link too.
    private static func isLinkWithinFolder(_ file: String, realFolder: String) -> Bool {
        guard FileInfo(notFollowing: file)?.isSymbolicLink == true else { return false }
        // A dangling link has no target to load; treat it as skipped like a sibling link.
        guard let target = canonicalPath(file) else { return true }
        return (target as NSString).deletingLastPathComponent == realFolder
    }

    /// The file's bytes, or nil when it is empty or binary.
    private static func readText(_ file: String) throws -> [UInt8]? {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CorpusError.unreadable(path: file, reason: error.localizedDescription)
        }
        if data.isEmpty || data.prefix(binaryProbeLength).contains(0) { return nil }
        return [UInt8](data)
    }

    private static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// A file's identity: two names (hard links, or a link and its target) share it.
struct FileID: Hashable {
    let device: UInt64
    let inode: UInt64
}

/// The few `stat` fields the loader needs, read through the POSIX calls so that symbolic links
/// can be told apart from their targets the same way on Linux and macOS.
struct FileInfo {
    let mode: UInt32
    let id: FileID

    init?(following path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    init?(notFollowing path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    private init(_ st: stat) {
        mode = UInt32(st.st_mode)
        id = FileID(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino))
    }

    private var kind: UInt32 { mode & UInt32(S_IFMT) }
    var isDirectory: Bool { kind == UInt32(S_IFDIR) }
    var isRegular: Bool { kind == UInt32(S_IFREG) }
    var isSymbolicLink: Bool { kind == UInt32(S_IFLNK) }
}
