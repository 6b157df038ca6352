import Foundation
import HDF5Store

/// What `train` may find in a run folder.
enum RunFolder {
    /// Whether the folder holds a run's HDF5 files.
    static func holdsRun(_ folder: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains { $0.hasSuffix(".h5") }
    }

    /// Empties the folder for a new run (a fresh start finds nothing there; `--replace` and a
    /// `--resume` without a checkpoint replace the earlier run), keeping the lock file in place.
    static func clear(_ folder: String, keeping lock: RunLock) throws {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name != RunLock.fileName {
            do {
                try FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
            } catch {
                throw CLIError("cannot replace the earlier run in \(folder): \(error.localizedDescription); remove it by hand or use --output DIR")
            }
        }
    }

    /// The files a fresh start writes, so a start that fails after writing some removes them.
    static func runFiles(_ folder: String) -> [String] {
        ["history.h5", "partition.h5", "tokenizer", "corpus-tokens.bin"].map { (folder as NSString).appendingPathComponent($0) }
    }
}

/// Picks the checkpoint to resume from: the newest complete one, passing over incomplete ones.
enum CheckpointChoice {
    static func newest(in folder: String, warn: Bool) throws -> String? {
        guard FileManager.default.fileExists(atPath: folder) else { return nil }
        for checkpoint in try HDF5RunReader.checkpoints(in: folder).reversed() {
            // Every dataset is read back, so a checkpoint damaged on disk fails its checksum here
            // and the newest one that verifies is used instead.
            guard let failure = HDF5RunReader.verificationFailure(checkpoint.path) else { return checkpoint.path }
            if warn {
                FileHandle.standardError.write(Data("warning: passing over \(checkpoint.path): \(failure)\n".utf8))
            }
        }
        return nil
    }

    static func jobText(of checkpoint: String) throws -> String {
        try HDF5RunReader.readJob(checkpoint)
    }
}
