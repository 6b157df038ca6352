import Foundation
import GPT
import HDF5Store

extension ModelSource {
    /// A folder a training run wrote: it holds checkpoints or a history, and no config.json.
    static func isRunFolder(_ path: String) -> Bool {
        let history = (path as NSString).appendingPathComponent("history.h5")
        return FileManager.default.fileExists(atPath: history) || !((try? HDF5RunReader.checkpoints(in: path)) ?? []).isEmpty
    }

    /// A run folder means its newest complete checkpoint, chosen as `resume` chooses it.
    static func checkpointStart(_ job: JobFile, runFolder: String) throws -> Start {
        guard let file = try CheckpointChoice.newest(in: runFolder, warn: true) else {
            throw JobFileError(job.path, "'model.init' \(runFolder) holds no complete checkpoint; finish that run "
                + "(fedcybgd resume \(runFolder)) or point model.init at a complete checkpoint-NNNNNN.h5")
        }
        return try checkpointStart(job, file: file)
    }

    /// Checks the file is a complete checkpoint and reads the shape it records, so that a bad
    /// file is refused before the run folder is touched.
    static func checkpointStart(_ job: JobFile, file: String) throws -> Start {
        guard HDF5RunReader.isComplete(file) else {
            throw JobFileError(job.path, "'model.init' \(file) is not a complete checkpoint (truncated, unreadable, or its writer "
                + "stopped before finishing); point model.init at its run folder to take the newest complete one")
        }
        do {
            return .checkpoint(file, try HDF5RunReader.modelConfig(file))
        } catch {
            throw JobFileError(job.path, "'model.init' \(error); point model.init at a checkpoint fedcybgd wrote")
        }
    }
}
