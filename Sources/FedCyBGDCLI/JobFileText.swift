import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads a job file's text, naming the real cause when it cannot: no such file, a folder,
/// permission denied, or bytes that are not UTF-8 text.
enum JobFileText {
    static func read(_ path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            throw JobFileError(path, "cannot read the job file: \(FileProblem.describe(errno: code)); check the path (examples are in jobs/)")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw JobFileError(path, "is a folder, not a job file; give a TOML job file such as jobs/demo.toml")
        }
        let data: Data
        do {
            data = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)).readToEnd() ?? Data()
        } catch {
            let code = access(path, R_OK) == 0 ? EIO : errno
            throw JobFileError(path, "cannot read the job file: \(FileProblem.describe(errno: code)); "
                + (code == EACCES || code == EPERM ? "make it readable (chmod a+r) or copy it somewhere readable" : "check the file"))
        }
        let bytes = [UInt8](data)
        if let nul = bytes.firstIndex(of: 0) {
            throw JobFileError(path, "is not UTF-8 text but a binary file (a NUL byte at offset \(nul)); give a TOML job file (examples are in jobs/)")
        }
        if let bad = firstInvalidUTF8(bytes) {
            throw JobFileError(path, "is not UTF-8 text (byte 0x\(String(bytes[bad], radix: 16, uppercase: true)) at offset \(bad) is not UTF-8); "
                + "save it as UTF-8, e.g. iconv -f LATIN1 -t UTF-8 \(path) > job.toml")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Offset of the first byte that does not start a valid UTF-8 sequence, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return min(offset, bytes.count - 1)
            }
        }
    }
}
