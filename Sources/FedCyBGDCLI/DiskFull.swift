import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A write that failed because the disk (or the user's quota) is full: recognised from the errno
/// HDF5, Foundation or our own checks report (ENOSPC 28, EDQUOT 122), so that the run ends with
/// one line saying so, and its own exit status, instead of a library's error stack.
enum DiskFull {
    /// The exit status of a run stopped by a full disk (EX_IOERR), distinct from a crash's.
    static let exitCode: Int32 = 74

    /// What filled up.
    enum Limit: Equatable {
        case disk, quota

        var words: String { self == .quota ? "the disk quota" : "the disk" }
    }

    /// Whether `error` is a full disk or quota, and which; nil for any other failure.
    static func limit(of error: Error) -> Limit? {
        if let posix = posixCode(of: error as NSError) {
            return posix == EDQUOT ? .quota : posix == ENOSPC ? .disk : nil
        }
        let text = "\(error)"
        // HDF5's error stack says "errno = 28, error message = 'No space left on device'";
        // FileProblem's own lines say "no space left on the device" or "disk quota exceeded".
        let quota = ["errno = 122", "Disk quota exceeded", FileProblem.describe(errno: EDQUOT)]
        let disk = ["errno = 28", "No space left on device", FileProblem.describe(errno: ENOSPC)]
        if quota.contains(where: text.contains) { return .quota }
        if disk.contains(where: text.contains) { return .disk }
        return nil
    }

    /// The errno behind a Foundation error: a POSIX error itself, or the one under Foundation's
    /// "out of space" (640), which it reports for both ENOSPC and EDQUOT.
    private static func posixCode(of error: NSError) -> Int32? {
        if error.domain == NSPOSIXErrorDomain { return Int32(error.code) }
        guard error.domain == NSCocoaErrorDomain else { return nil }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, let code = posixCode(of: underlying) {
            return code
        }
        return error.code == CocoaError.Code.fileWriteOutOfSpace.rawValue ? ENOSPC : nil
    }

    /// One line naming the folder and the remedy when `error` is a full disk during the rounds
    /// (a checkpoint exists to resume from), else nil.
    static func message(for error: Error, runFolder: String) -> String? {
        guard let limit = limit(of: error) else { return nil }
        return "error: \(limit.words) holding \(runFolder) is full, so the run stopped; the newest complete checkpoint is intact: "
            + "free some space there, then continue with: fedcybgd resume \(runFolder)"
    }

    /// The line for a full disk before the run has anything to resume: while starting (the
    /// start's files are removed), or before a resume has restored the history.
    static func setUpMessage(for error: Error, runFolder: String, resuming: Bool) -> String? {
        guard let limit = limit(of: error) else { return nil }
        if resuming {
            return "error: \(limit.words) holding \(runFolder) is full, so the run could not resume; its checkpoints are intact: "
                + "free some space there, then continue with: fedcybgd resume \(runFolder)"
        }
        return "error: \(limit.words) holding \(runFolder) is full, so the run could not start and left nothing there: "
            + "free some space there (or use --output DIR elsewhere), then run the same command again"
    }

    /// The line for a full disk during the rounds of a run that has written no checkpoint yet,
    /// so it cannot be resumed and must start again.
    static func beforeFirstCheckpointMessage(for error: Error, runFolder: String, jobPath: String) -> String? {
        guard let limit = limit(of: error) else { return nil }
        return "error: \(limit.words) holding \(runFolder) is full, so the run stopped before its first checkpoint and cannot be resumed: "
            + "free some space there, then start it again with: fedcybgd train \(jobPath) --replace"
    }
}
