import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a file cannot be opened or created, asked of the operating system before HDF5 is, so
/// that permission denied and a read-only file system are called that (HDF5 itself reports
/// every failed open as an unreadable file).
enum FileAccess {
    /// The problem with opening `path` (read-only, or for writing), or nil when the system allows it.
    static func problem(opening path: String, writable: Bool) -> HDF5Error? {
        if access(path, R_OK) != 0, errno == EACCES || errno == EPERM {
            return HDF5Error(.failed, file: path, "permission denied: this user cannot read it; make it readable (chmod u+r) or run as its owner")
        }
        guard writable else { return nil }
        if isReadOnlyFileSystem(path) {
            return HDF5Error(.failed, file: path, "is on a read-only file system; copy the run folder to a writable one (cp -r) and continue there")
        }
        if access(path, W_OK) != 0, errno == EACCES || errno == EPERM {
            return HDF5Error(.failed, file: path, "permission denied: this user cannot write it; make the run folder writable (chmod -R u+w) or run as its owner")
        }
        return nil
    }

    /// The problem with creating `path` in its folder, or nil when the system allows it.
    static func problem(creating path: String) -> HDF5Error? {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        if isReadOnlyFileSystem(folder) {
            return HDF5Error(.failed, file: path, "cannot be created: \(folder) is on a read-only file system; write the run to a writable folder (--output DIR)")
        }
        if access(folder, W_OK | X_OK) != 0, errno == EACCES || errno == EPERM {
            return HDF5Error(.failed, file: path, "cannot be created: permission denied in \(folder); make it writable (chmod u+w) or write the run elsewhere (--output DIR)")
        }
        return nil
    }

    static func isReadOnlyFileSystem(_ path: String) -> Bool {
        var info = statvfs()
        return statvfs(path, &info) == 0 && (info.f_flag & UInt(ST_RDONLY)) != 0
    }
}
