import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One writer per run folder: `train`, `train --resume`, `resume` and `--replace` hold an
/// exclusive `flock` on `<run>/.lock` from before they create, replace or resume anything in the
/// folder until the process ends. The kernel releases the lock when the process dies, however it
/// dies, so a killed run never leaves a stale lock; the file itself may stay and means nothing
/// unless a process holds it. Readers (`inspect`, `sample`, `export`, h5py) never take it.
///
/// The holder writes its PID, host and start time into the file, so a refused start can name it.
final class RunLock {
    static let fileName = ".lock"

    let folder: String
    let path: String
    private var descriptor: Int32
    /// Whether taking the lock made the run folder, or the lock file, so a failed start can
    /// remove them again.
    let createdFolders: [String]
    let createdFile: Bool

    private init(folder: String, path: String, descriptor: Int32, createdFolders: [String], createdFile: Bool) {
        self.folder = folder; self.path = path; self.descriptor = descriptor
        self.createdFolders = createdFolders; self.createdFile = createdFile
    }

    deinit { release() }

    /// Takes the lock on `folder`, making the folder if needed; throws a one-line `CLIError`
    /// naming the holder when another process has it, or naming the cause when the folder or the
    /// lock file cannot be made (permission denied, read-only file system).
    static func acquire(folder: String, resuming: Bool = false) throws -> RunLock {
        var createdFolders: [String] = []
        let path = (folder as NSString).appendingPathComponent(fileName)
        // The file can be removed between open and flock (a start that failed removes what it
        // made); a lock on a file no longer at `path` guards nothing, so try again.
        for _ in 0..<100 {
            createdFolders += try makeFolder(folder)
            let existed = access(path, F_OK) == 0
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let code = errno
                throw CLIError("cannot create the lock file \(path): \(FileProblem.describe(errno: code)); \(FileProblem.remedy(errno: code, folder: folder, resuming: resuming))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                let holder = readHolder(fd)
                close(fd)
                guard code == EWOULDBLOCK else {
                    throw CLIError("cannot lock \(path): \(FileProblem.describe(errno: code)); run on a local file system, or use --output DIR elsewhere")
                }
                throw CLIError("run folder \(folder) is in use by \(holder ?? "another process") (it holds \(path)); "
                    + "wait for that run to end or stop it (kill -USR1 its PID), or use --output DIR to write elsewhere")
            }
            var opened = stat(), current = stat()
            guard fstat(fd, &opened) == 0, stat(path, &current) == 0,
                  opened.st_dev == current.st_dev, opened.st_ino == current.st_ino else {
                close(fd)
                continue
            }
            let lock = RunLock(folder: folder, path: path, descriptor: fd, createdFolders: createdFolders, createdFile: !existed)
            lock.writeHolder()
            StopSignals.removeOnSetUpSignal(file: !existed || !createdFolders.isEmpty ? path : nil, folders: createdFolders)
            return lock
        }
        throw CLIError("cannot lock \(path): the lock file keeps being replaced; is another program removing it?")
    }

    /// "process 1234 on host node7 (since 2025-01-01T12:00:00Z)".
    static func describeHolder(pid: Int32, host: String, since: String) -> String {
        "process \(pid) on host \(host) (since \(since))"
    }

    private func writeHolder() {
        let since = ISO8601DateFormatter().string(from: Date())
        let text = "pid=\(getpid()) host=\(Self.hostName()) since=\(since)\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        _ = fsync(descriptor)
    }

    /// This host's name, from gethostname(2) (no name service lookup, which can hang).
    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(cString: buffer)
    }

    /// The holder as written in the lock file, or nil when it has not written itself yet.
    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        var fields: [String: String] = [:]
        for field in String(decoding: buffer[..<count], as: UTF8.self).split(whereSeparator: \.isWhitespace) {
            let pair = field.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let pid = fields["pid"].flatMap({ Int32($0) }) else { return nil }
        return describeHolder(pid: pid, host: fields["host"] ?? "?", since: fields["since"] ?? "?")
    }

    /// Releases the lock now (the process's exit does the same).
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    /// After a failed start: removes the lock file and the folder when taking the lock made
    /// them (the folder only if nothing else is in it), then releases the lock, so the failed
    /// start leaves nothing behind.
    func abandon() {
        if createdFile || !createdFolders.isEmpty { unlink(path) }
        release()
        for made in createdFolders.reversed() { rmdir(made) }
    }

    /// Makes the folder and its parents; returns the folders it made, outermost first.
    private static func makeFolder(_ folder: String) throws -> [String] {
        var info = stat()
        if stat(folder, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw CLIError("\(folder) is a file, not a run folder; remove it or use --output DIR to write elsewhere")
            }
            return []
        }
        var made: [String] = []
        let parent = (folder as NSString).deletingLastPathComponent
        if !parent.isEmpty, stat(parent, &info) != 0 { made = try makeFolder(parent) }
        if mkdir(folder, 0o755) != 0 {
            let code = errno
            if code == EEXIST { return made }
            for folder in made.reversed() { rmdir(folder) }
            throw CLIError("cannot create the run folder \(folder): \(FileProblem.describe(errno: code)); \(FileProblem.remedy(errno: code, folder: folder))")
        }
        return made + [folder]
    }
}
