import Federation
import Foundation
import GPT

/// The run folder in HDF5: `history.h5` (one row per round, appended in short sessions) and
/// `checkpoint-<round>.h5` files (written atomically, the newest `keepCheckpoints` kept).
/// `docs/RUN-FILES.md` documents the files.
///
/// Not thread-safe: call it from one thread at a time.
public final class HDF5RunStore: RunStore, RecordedHistory {
    /// What `program_version` says unless the caller passes another.
    public static let defaultProgramVersion = "0.1.0"

    /// The run folder, e.g. `runs/<name>`.
    public let folder: String
    /// How many complete checkpoints to keep (at least 1).
    public let keepCheckpoints: Int
    public let programVersion: String

    public var historyPath: String { (folder as NSString).appendingPathComponent(RunSchema.historyFile) }

    private var jobText: String?
    private var config: GPTConfig?
    /// Set once opening the history with HDF5's file lock failed because a reader held it;
    /// from then on the history is opened without the lock (a reader cannot corrupt it).
    private var historyLockBypassed = false

    /// Creates the run folder (and its parents) if needed.
    public init(folder: String, keepCheckpoints: Int = 3, programVersion: String = HDF5RunStore.defaultProgramVersion) throws {
        self.folder = folder
        self.keepCheckpoints = max(1, keepCheckpoints)
        self.programVersion = programVersion
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw HDF5Error(.failed, file: folder, "cannot create the run folder (\(error.localizedDescription))")
        }
    }

    public func checkpointPath(round: Int) -> String {
        (folder as NSString).appendingPathComponent(RunSchema.checkpointName(round: round))
    }

    // MARK: RunStore

    public func begin(jobText: String, layout: ParameterLayout, clientsPerRound: Int) throws {
        try begin(jobText: jobText, parameterCount: layout.parameterCount, config: layout.config, clientsPerRound: clientsPerRound)
    }

    /// `begin` without a layout: `config` (if any) is recorded in checkpoints' `/model` attributes.
    public func begin(jobText: String, parameterCount: Int, config: GPTConfig?, clientsPerRound: Int) throws {
        guard clientsPerRound >= 1 else {
            throw HDF5Error(.failed, file: historyPath, "clients per round must be at least 1, got \(clientsPerRound)")
        }
        self.jobText = jobText
        self.config = config
        let file = try HDF5File.create(historyPath)
        try file.setAttribute("job", jobText)
        try file.setAttribute("program", RunSchema.program)
        try file.setAttribute("program_version", programVersion)
        try file.setAttribute("format_version", RunSchema.formatVersion)
        try file.setAttribute("start_time", RunSchema.now())
        try file.setAttribute("parameter_count", parameterCount)
        try file.setAttribute("clients_per_round", clientsPerRound)
        let history = try file.createGroup("history")
        try history.setAttribute("description", "one row per round, appended as the run goes")
        for column in RunSchema.history where !HistoryMeasures.names.contains(column.name) {
            let dataset: HDF5Dataset
            switch column.name {
            case "round", "bytes_down", "bytes_up", "bytes_broadcast":
                dataset = try history.createExtendibleDataset(column.name, of: Int64.self)
            case "cycle", "block", "rejected_uploads":
                dataset = try history.createExtendibleDataset(column.name, of: Int32.self)
            case "clients":
                dataset = try history.createExtendibleDataset(column.name, of: Int32.self, rowShape: [clientsPerRound],
                                                              chunkRows: max(16, 4096 / clientsPerRound))
            case "train_loss", "eval_loss":
                dataset = try history.createExtendibleDataset(column.name, of: Float.self)
            default:
                dataset = try history.createExtendibleDataset(column.name, of: Double.self)
            }
            try dataset.setAttribute("description", column.description)
            try dataset.setAttribute("units", RunSchema.units(column, config: config))
        }
        try HistoryMeasures.createClientColumns(in: history, width: clientsPerRound)
        try file.close()
    }

    /// Continues a run from the checkpoint of `round`: remembers the job, and cuts the history
    /// back to the rows of rounds up to `round` (rows written after that checkpoint are
    /// repeated by the resumed run).
    public func resume(jobText: String, layout: ParameterLayout, round: Int) throws {
        self.jobText = jobText
        self.config = layout.config
        try truncateHistory(afterRound: round)
    }

    /// Adds a line to history.h5's `resume_log` attribute: when the run was resumed, from which
    /// checkpoint, and which job keys changed.
    public func noteResume(_ line: String) throws {
        let file = try openHistory()
        let previous = (try? file.hasAttribute("resume_log")) == true ? try file.stringAttribute("resume_log") : ""
        try file.setAttribute("resume_log", previous + "\(RunSchema.now()) \(line)\n")
        try file.close()
    }

    /// Drops the history rows whose round is greater than `round`.
    public func truncateHistory(afterRound round: Int) throws {
        let file = try openHistory()
        let history = try file.openGroup("history")
        let rounds = try history.openDataset("round").read(as: Int64.self)
        let keep = rounds.firstIndex { $0 > Int64(round) } ?? rounds.count
        if keep < rounds.count {
            for column in RunSchema.history where try history.contains(column.name) {
                try history.openDataset(column.name).resize(rows: keep)
            }
        }
        try BlockVisits.truncate(in: file, afterRound: round)
        try BlockSnapshots.truncate(in: file, afterRound: round)
        try file.close()
    }

    public func append(_ record: RoundRecord) throws {
        let file = try openHistory()
        let history = try file.openGroup("history")
        let clients = try history.openDataset("clients")
        let width = try clients.shape().last ?? 1
        guard record.clients.count <= width else {
            throw HDF5Error(.failed, file: historyPath, "round \(record.round) has \(record.clients.count) clients; the history holds \(width) per row")
        }
        let rowsBefore = try history.openDataset("round").shape().first ?? 0
        try history.openDataset("round").append([Int64(record.round)])
        try history.openDataset("cycle").append([Int32(record.cycle)])
        try history.openDataset("block").append([Int32(record.block)])
        try clients.append(record.clients.map { Int32($0) } + Array(repeating: -1, count: width - record.clients.count))
        try history.openDataset("train_loss").append([record.trainLoss])
        try history.openDataset("eval_loss").append([record.evalLoss])
        try history.openDataset("bytes_down").append([Int64(record.bytesDown)])
        try history.openDataset("bytes_up").append([Int64(record.bytesUp)])
        try history.openDataset("bytes_broadcast").append([Int64(record.bytesBroadcast)])
        try history.openDataset("rejected_uploads").append([Int32(record.rejectedUploads)])
        try history.openDataset("seconds").append([record.seconds])
        try history.openDataset("server_cpu_seconds").append([record.serverCPUSeconds])
        try HistoryMeasures.append(record, to: history, clientWidth: width, rowsBefore: rowsBefore)
        // Rounds that train every block (fedavg, centralized, fedlora) are no block's visit.
        if record.block >= 0 { try BlockVisits.append(record, to: file, config: config, width: width) }
        try file.close()
    }

    /// The history rows stored so far (what a resumed run's summary starts from).
    public func recordedRounds() throws -> [RoundRecord] {
        try HDF5RunReader.readHistory(historyPath)
    }

    public func appendSnapshot(block: Int, round: Int, values: UnsafeBufferPointer<Float>) throws {
        let file = try openHistory()
        try BlockSnapshots.append(block: block, round: round, values: values, to: file, config: config)
        try file.close()
    }

    public func saveCheckpoint(parameters: ParameterBuffer, state: RunState) throws {
        try saveCheckpoint(tensors: CheckpointTensor.list(parameters.layout), values: UnsafeBufferPointer(parameters.storage),
                           state: state)
    }

    /// Writes `checkpoint-<state.round>.h5` from `values` (the parameter buffer) and the list of
    /// its tensors: to a temporary name, then fsync, rename, and pruning of old checkpoints.
    /// Returns the checkpoint's path.
    @discardableResult
    public func saveCheckpoint(tensors: [CheckpointTensor], values: UnsafeBufferPointer<Float>, state: RunState) throws -> String {
        let final = checkpointPath(round: state.round)
        let temporary = final + ".tmp"
        for tensor in tensors {
            guard tensor.offset >= 0, tensor.offset + tensor.count <= values.count else {
                throw HDF5Error(.failed, file: final, "tensor \(tensor.name) (\(tensor.offset) + \(tensor.count)) lies outside the \(values.count) parameters")
            }
            guard !tensor.name.contains("/"), !tensor.name.isEmpty, tensor.name != "." else {
                throw HDF5Error(.failed, file: final, "tensor name \"\(tensor.name)\" cannot be an HDF5 dataset name")
            }
        }
        do {
            try writeCheckpoint(to: temporary, tensors: tensors, values: values, state: state)
            try Self.fsync(path: temporary)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, final) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw HDF5Error(.failed, file: final, "renaming the written checkpoint into place failed (\(reason))")
        }
        try Self.fsync(path: folder)
        pruneCheckpoints(keeping: final)
        return final
    }

    public func finish(_ summary: RunSummary) throws {
        let file = try openHistory()
        try file.remove("summary")
        let group = try file.createGroup("summary")
        try group.setAttribute("description", "totals of the run, written when it finished")
        try group.setAttribute("end_time", RunSchema.now())
        let values: [String: any HDF5Scalar] = [
            "rounds": summary.rounds, "clients": summary.clients, "parameter_count": summary.parameterCount,
            "total_bytes_down": summary.totalBytesDown, "total_bytes_up": summary.totalBytesUp,
            "total_bytes_broadcast": summary.totalBytesBroadcast, "tokens_trained": summary.tokensTrained,
            "initial_eval_loss": summary.initialEvalLoss, "final_eval_loss": summary.finalEvalLoss,
            "wall_seconds": summary.wallSeconds, "server_cpu_seconds": summary.serverCPUSeconds,
            "rejected_uploads": summary.rejectedUploads,
            "bytes_per_client_mean": summary.bytesPerClientMean, "bytes_per_client_max": summary.bytesPerClientMax,
            "peak_client_rss": summary.peakClientRSS, "peak_server_rss": summary.peakServerRSS,
            "client_compute_fraction": summary.clientComputeFraction,
        ]
        for column in RunSchema.summary {
            guard let value = values[column.name] else { continue }
            try setNumericAttribute(group, column.name, value)
            try group.setAttribute(column.name + "_units", RunSchema.units(column, config: config))
            try group.setAttribute(column.name + "_description", column.description)
        }
        try file.close()
    }

    // MARK: Internals

    private func setNumericAttribute(_ object: HDF5Object, _ name: String, _ value: any HDF5Scalar) throws {
        switch value {
        case let v as Int: try object.setAttribute(name, v)
        case let v as Float: try object.setAttribute(name, v)
        case let v as Double: try object.setAttribute(name, v)
        case let v as Int32: try object.setAttribute(name, v)
        case let v as Int64: try object.setAttribute(name, v)
        case let v as UInt8: try object.setAttribute(name, v)
        default: throw HDF5Error(.failed, file: object.file, "no attribute type for \(name)")
        }
    }

    /// Opens history.h5 for writing. A reader holding HDF5's lock (h5py, HDFView without
    /// `HDF5_USE_FILE_LOCKING=FALSE`) must not stop the run: after about 2 s of retries the
    /// file is opened without the lock, and stays so for this store.
    private func openHistory() throws -> HDF5File {
        var delay: useconds_t = 10_000
        var waited: useconds_t = 0
        while true {
            do {
                return try HDF5File.open(historyPath, writable: true, useFileLocking: historyLockBypassed ? false : nil)
            } catch let error as HDF5Error where error.kind == .failed && error.message.contains("locked") {
                if waited >= 2_000_000 {
                    FileHandle.standardError.write(Data("warning: \(historyPath) is held open by a reader; writing it without HDF5's file lock\n".utf8))
                    historyLockBypassed = true
                    continue
                }
                usleep(delay)
                waited += delay
                delay = min(delay * 2, 500_000)
            } catch let error as HDF5Error where error.kind == .missing {
                throw HDF5Error(.missing, file: historyPath, "no such file; the run was not begun in this folder")
            }
        }
    }

    private func writeCheckpoint(to path: String, tensors: [CheckpointTensor], values: UnsafeBufferPointer<Float>,
                                 state: RunState) throws {
        let file = try HDF5File.create(path)
        try file.setAttribute("program", RunSchema.program)
        try file.setAttribute("program_version", programVersion)
        try file.setAttribute("format_version", RunSchema.formatVersion)
        try file.setAttribute("created", RunSchema.now())
        try file.setAttribute("round", state.round)

        let configGroup = try file.createGroup("config")
        let job = jobText ?? ""
        try configGroup.setAttribute("description", "the job file this run was started with, and its SHA-256")
        try configGroup.setAttribute("job", job)
        try configGroup.setAttribute("job_sha256", SHA256.hex(job))

        let model = try file.createGroup("model")
        try model.setAttribute("description", "the global model's parameters, float32, one dataset per tensor with Hugging Face GPT-2 names and shapes")
        try model.setAttribute("parameter_count", tensors.reduce(0) { $0 + $1.count })
        if let config {
            try model.setAttribute("vocab_size", config.vocabSize)
            try model.setAttribute("n_positions", config.contextLength)
            try model.setAttribute("n_embd", config.embedDim)
            try model.setAttribute("n_layer", config.layers)
            try model.setAttribute("n_head", config.heads)
            try model.setAttribute("layer_norm_epsilon", config.layerNormEpsilon)
        }
        for tensor in tensors {
            let slice = UnsafeBufferPointer(rebasing: values[tensor.offset ..< tensor.offset + tensor.count])
            let dataset = try model.createDataset(tensor.name, shape: tensor.shape, values: slice)
            try dataset.setAttribute("description", RunSchema.tensorDescription(tensor))
            try dataset.setAttribute("units", "1")
            if tensor.block >= 0 { try dataset.setAttribute("block", tensor.block) }
            try dataset.setAttribute("offset", tensor.offset)
        }

        let stateGroup = try file.createGroup("state")
        try stateGroup.setAttribute("description", "where the run stands after this round: what a resumed run needs besides the parameters")
        let numbers: [String: [Int]] = [
            "round": [state.round], "cycle": [state.cycle], "block_order": state.blockOrder,
            "client_last_sync": state.clientLastSync, "total_bytes_down": [state.totalBytesDown],
            "total_bytes_up": [state.totalBytesUp], "total_bytes_broadcast": [state.totalBytesBroadcast],
            "tokens_trained": [state.tokensTrained], "block_changed_round": state.blockChangedRound,
            "rejected_uploads": [state.rejectedUploads], "update_norm_accepted": [state.updateNorms.acceptedCount],
        ]
        let losses: [String: Float] = ["initial_eval_loss": state.initialEvalLoss, "last_eval_loss": state.lastEvalLoss]
        let arrays: Set<String> = ["block_order", "client_last_sync", "block_changed_round"]
        for column in RunSchema.state {
            let dataset: HDF5Dataset
            if let value = numbers[column.name] {
                dataset = try stateGroup.createDataset(column.name, shape: arrays.contains(column.name) ? [value.count] : [], values: value)
            } else if let loss = losses[column.name] {
                dataset = try stateGroup.createScalarDataset(column.name, loss)
            } else if column.name == "update_norms" {
                dataset = try stateGroup.createDataset(column.name, shape: [state.updateNorms.recentNorms.count],
                                                       values: state.updateNorms.recentNorms)
            } else {
                continue
            }
            try dataset.setAttribute("description", column.description)
            try dataset.setAttribute("units", RunSchema.units(column, config: config))
        }

        try CheckpointExtras.write(state, to: stateGroup)

        // Written last: a checkpoint without it was never finished.
        try file.setAttribute("complete", 1)
        try file.close()
    }

    /// Deletes complete checkpoints older than the newest `keepCheckpoints`; never the one just
    /// written, never files it cannot read (they are left for a person to look at).
    private func pruneCheckpoints(keeping newest: String) {
        guard let checkpoints = try? HDF5RunReader.checkpoints(in: folder) else { return }
        let complete = checkpoints.filter { $0.path == newest || HDF5RunReader.isComplete($0.path) }
        let keep = Set(complete.suffix(keepCheckpoints).map(\.path) + [newest])
        for checkpoint in complete where !keep.contains(checkpoint.path) {
            try? FileManager.default.removeItem(atPath: checkpoint.path)
        }
    }

    private static func fsync(path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw HDF5Error(.failed, file: path, "opening for fsync failed (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        guard Foundation.fsync(descriptor) == 0 else {
            throw HDF5Error(.failed, file: path, "fsync failed (\(String(cString: strerror(errno))))")
        }
    }
}
