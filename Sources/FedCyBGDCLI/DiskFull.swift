/// A write that failed because the disk (or the user's quota) is full: recognised from the errno
/// HDF5 or Foundation report (ENOSPC 28, EDQUOT 122), so that the run ends with one line saying
/// so, and its own exit status, instead of a library's error stack.
enum DiskFull {
    /// The exit status of a run stopped by a full disk (EX_IOERR), distinct from a crash's.
    static let exitCode: Int32 = 74

    /// One line naming the folder and the remedy when `error` is a full disk, else nil.
    static func message(for error: Error, runFolder: String) -> String? {
        let text = "\(error)"
        let full = ["errno = 28", "errno = 122", "No space left on device", "Disk quota exceeded", "error 640"]
        guard full.contains(where: text.contains) else { return nil }
        let what = text.contains("quota") || text.contains("errno = 122") ? "the disk quota" : "the disk"
        return "error: \(what) holding \(runFolder) is full, so the run stopped; the newest complete checkpoint is intact: "
            + "free some space there, then continue with: fedcybgd resume \(runFolder)"
    }
}
