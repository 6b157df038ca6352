import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain-words causes and remedies for the errno values a user can act on.
enum FileProblem {
    static func describe(errno code: Int32) -> String {
        switch code {
        case EACCES, EPERM: return "permission denied"
        case EROFS: return "read-only file system"
        case ENOSPC: return "no space left on the device"
        case EDQUOT: return "disk quota exceeded"
        case ENOENT: return "no such file or folder"
        case ENOTDIR: return "a part of the path is a file, not a folder"
        default: return String(cString: strerror(code))
        }
    }

    static func remedy(errno code: Int32, folder: String, resuming: Bool = false) -> String {
        if resuming, [EACCES, EPERM, EROFS].contains(code) {
            return (code == EROFS ? "" : "make \(folder) writable by this user (chmod -R u+w), or ")
                + "copy the run folder to a writable place (cp -r \(folder) DIR) and resume the copy (fedcybgd resume DIR/\((folder as NSString).lastPathComponent))"
        }
        switch code {
        case EACCES, EPERM: return "make \(folder) writable by this user, or use --output DIR to write elsewhere"
        case EROFS: return "use --output DIR on a writable file system"
        case ENOSPC, EDQUOT: return "free space there, or use --output DIR elsewhere"
        default: return "check the path, or use --output DIR to write elsewhere"
        }
    }
}
