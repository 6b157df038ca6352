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

/// The checkpoint the readers (`inspect`, `export`, `sample`, `model.init`) take from a run
/// folder: the newest that verifies, as a resume would (`RunStore.latestCheckpoint`).
enum CheckpointChoice {
    static func newest(in folder: String, warn: Bool) throws -> String? {
        try HDF5RunReader.latestVerifiedCheckpoint(in: folder) { path, failure in
            if warn { passingOver(path, failure) }
        }
    }

    static func jobText(of checkpoint: String) throws -> String {
        try HDF5RunReader.readJob(checkpoint)
    }

    /// The warning for a damaged checkpoint that is passed over.
    static func passingOver(_ name: String, _ failure: String) {
        FileHandle.standardError.write(Data("warning: passing over \(name): \(failure)\n".utf8))
    }
}
