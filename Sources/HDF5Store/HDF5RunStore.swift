import Corpus
import Federation
import Foundation
import GPT

/// The run folder in HDF5: `history.h5` (one row per round, appended in short sessions) and
/// `checkpoint-<round>.h5` files (written atomically, the newest `keepCheckpoints` kept).
/// `docs/RUN-FILES.md` documents the files.
///
/// Not thread-safe: call it from one thread at a time.
public final class HDF5RunStore: RunStore {
    /// What `program_version` says unless the caller passes another.
    public static let defaultProgramVersion = "0.1.0"

    /// The run folder, e.g. `runs/<name>`.
    public let folder: String
    /// How many complete checkpoints to keep (at least 1).
    public let keepCheckpoints: Int
    public let programVersion: String
    /// The unit of the losses it records: the run's `TextTokenizer.lossUnit`.
    public let lossUnit: LossUnit

    public var historyPath: String { (folder as NSString).appendingPathComponent(RunSchema.historyFile) }

    private var jobText: String?
    private var config: GPTConfig?
    /// Set once opening the history with HDF5's file lock failed because a reader held it;
    /// from then on the history is opened without the lock (a reader cannot corrupt it).
    private var historyLockBypassed = false

    /// Creates the run folder (and its parents) if needed. `lossUnit` is the run's tokenizer's
    /// (the byte tokenizer's, nats per byte, unless told).
    public init(folder: String, keepCheckpoints: Int = 3, programVersion: String = HDF5RunStore.defaultProgramVersion,
                lossUnit: LossUnit = .natsPerByte) throws {
        self.folder = folder
        self.keepCheckpoints = max(1, keepCheckpoints)
        self.programVersion = programVersion
        self.lossUnit = lossUnit
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
        try HistoryTable(group: history, columns: HistorySchema.columns, lossUnit: lossUnit).create(clientsPerRound: clientsPerRound)
        try file.close()
    }

    public func latestCheckpoint(passedOver: (_ name: String, _ problem: String) -> Void) throws -> StoredCheckpoint? {
        guard let path = try HDF5RunReader.latestVerifiedCheckpoint(in: folder, passedOver: passedOver) else { return nil }
        return StoredCheckpoint(name: path, jobText: try HDF5RunReader.readJob(path))
    }

    public func load(_ checkpoint: StoredCheckpoint, layout: ParameterLayout) throws -> CheckpointContents {
        let loaded = try HDF5RunReader.loadCheckpoint(checkpoint.name, layout: layout)
        return CheckpointContents(parameters: loaded.parameters, state: loaded.state)
    }

    /// Continues a run from the checkpoint of `round`: remembers the job, rebuilds the history
    /// up to `round` (`prepareHistory`) and adds `note` to its `resume_log`.
    public func resume(jobText: String, layout: ParameterLayout, round: Int, note: String) throws {
        self.jobText = jobText
        self.config = layout.config
        try prepareHistory(resumingAt: round)
        try noteResume(note)
    }

    public func holdsFinishedRun(throughRound round: Int) -> Bool {
        guard let rows = try? HDF5RunReader.readHistory(historyPath), rows.last?.round == round,
              (try? HDF5RunReader.readSummary(historyPath)) ?? nil != nil else { return false }
        return true
    }

    /// Makes history.h5 hold exactly the rows up to `round`, as they were written. It is replaced
    /// by the copy in the checkpoint of `round` (history.h5 as it stood after that round's row):
    /// a kill or a full disk inside an append can leave it unreadable, or worse, readable with
    /// wrong rows (HDF5 wrote part of its metadata and not the chunks), and the rows after that
    /// round would be cut anyway. A history that could not be read, or whose rounds differ from
    /// the copy's, is reported on standard error. Checkpoints without a copy (an older
    /// fedcybgd) cut the history back in place.
    func prepareHistory(resumingAt round: Int) throws {
        let checkpoint = checkpointPath(round: round)
        if let copy = HDF5RunReader.historyCopy(in: checkpoint) {
            try restoreHistory(from: copy, checkpoint: checkpoint, round: round)
        } else {
            do {
                try truncateHistory(afterRound: round)
                _ = try recordedRounds()  // every row must read back, not only the round column
            } catch {
                throw HDF5Error(.corrupt, file: historyPath, "cannot be read (\(error)), and \(checkpoint) holds no copy of it (it was written by an older fedcybgd); the history cannot be rebuilt: start the run anew with --replace")
            }
        }
    }

    /// Replaces history.h5 by `copy` (through a temporary name and a rename, so that a crash now
    /// leaves the old file or the new one), saying so when the old one was damaged.
    private func restoreHistory(from copy: [UInt8], checkpoint: String, round: Int) throws {
        let temporary = historyPath + ".restoring"
        do {
            try Data(copy).write(to: URL(fileURLWithPath: temporary))
            try Self.fsync(path: temporary)
        } catch {
            // A full disk leaves a partial file; the next resume writes it again from the start.
            try? FileManager.default.removeItem(atPath: temporary)
            let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) }
            throw HDF5Error(.failed, file: temporary, "could not be written while restoring history.h5 (\(reason ?? "\(error)"))")
        }
        let problem = historyProblem(comparedWith: temporary, round: round)
        guard rename(temporary, historyPath) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw HDF5Error(.failed, file: historyPath, "could not be replaced by its restored copy (\(reason))")
        }
        if let problem {
            FileHandle.standardError.write(Data("warning: \(historyPath) \(problem); restored from \(checkpoint), rows up to round \(round)\n".utf8))
        }
    }

    /// What is wrong with history.h5 when its rows up to `round` are not those of the copy at
    /// `copyPath`: it cannot be read completely, or its rounds differ. Nil when they agree.
    private func historyProblem(comparedWith copyPath: String, round: Int) -> String? {
        let current: [RoundRecord]
        do {
            current = try HDF5RunReader.readHistory(historyPath)
        } catch {
            return "could not be read (\(error))"
        }
        let kept = current.prefix { $0.round <= round }.map(\.round)
        let copied = ((try? HDF5RunReader.readHistory(copyPath)) ?? []).map(\.round)
        return kept == copied ? nil : "held rounds that differ from the checkpoint's copy of it (\(kept.count) rows up to round \(round), the copy \(copied.count))"
    }

    /// Adds a line to history.h5's `resume_log` attribute: when the run was resumed, from which
    /// checkpoint, and which job keys changed.
    func noteResume(_ line: String) throws {
        let file = try openHistory()
        let previous = (try? file.hasAttribute("resume_log")) == true ? try file.stringAttribute("resume_log") : ""
        try file.setAttribute("resume_log", previous + "\(RunSchema.now()) \(line)\n")
        try file.close()
    }

    /// Drops the history rows whose round is greater than `round`.
    public func truncateHistory(afterRound round: Int) throws {
        let file = try openHistory()
        try RunSchema.checkFormat(file, path: historyPath)
        let history = try file.openGroup("history")
        let rounds = try history.openDataset("round").read(as: Int64.self)
        let keep = rounds.firstIndex { $0 > Int64(round) } ?? rounds.count
        if keep < rounds.count {
            try HistoryTable(group: history, columns: HistorySchema.columns).truncate(keepingRows: keep)
        }
        try BlockVisits.truncate(in: file, afterRound: round)
        try BlockSnapshots.truncate(in: file, afterRound: round)
        try AnswerRecords.truncate(in: file, afterRound: round)
        try file.close()
    }

    public func append(_ record: RoundRecord) throws {
        let file = try openHistory()
        HistoryAppendKillSwitch.step(round: record.round)
        let history = try file.openGroup("history")
        let clients = try history.openDataset("clients")
        let width = try clients.shape().last ?? 1
        guard record.clients.count <= width else {
            throw HDF5Error(.failed, file: historyPath, "round \(record.round) has \(record.clients.count) clients; the history holds \(width) per row")
        }
        try HistoryTable(group: history, columns: HistorySchema.columns, lossUnit: lossUnit).append(record, clientWidth: width)
        // Rounds that train every block (fedavg, centralized) or the adapters (fedlora) are no block's visit.
        if let block = record.target.block { try BlockVisits.append(record, block: block, to: file, config: config, lossUnit: lossUnit, width: width) }
        HistoryAppendKillSwitch.step(round: record.round)
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
        for attribute in SummarySchema.attributes {
            try group.setAttribute(attribute.name, attribute.read(summary), as: attribute.element)
            try group.setAttribute(attribute.name + "_units", attribute.units.text(lossUnit: lossUnit))
            try group.setAttribute(attribute.name + "_description", attribute.description)
        }
        try file.close()
    }

    public func recordTasks(_ tasks: [String], validationTokens: [Int]) throws {
        let file = try openHistory()
        try TaskColumns.record(tasks: tasks, validationTokens: validationTokens, in: try file.openGroup("history"))
        try file.close()
    }

    public func appendAnswers(_ answers: [GeneratedAnswer], round: Int) throws {
        let file = try openHistory()
        try AnswerRecords.append(answers, round: round, to: file, name: "generations", tasks: try tasksText(file))
        try file.close()
    }

    public func recordTest(_ scores: EvaluationScores, round: Int) throws {
        let file = try openHistory()
        try AnswerRecords.writeTest(scores, round: round, to: file, tasks: try tasksText(file),
                                    lossUnits: Units.loss.text(lossUnit: lossUnit))
        try file.close()
    }

    /// The history group's task names (one per line), if the run has tasks.
    private func tasksText(_ file: HDF5File) throws -> String? {
        let history = try file.openGroup("history")
        return try history.hasAttribute(TaskColumns.tasksAttribute) ? try history.stringAttribute(TaskColumns.tasksAttribute) : nil
    }

    // MARK: Internals

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
        try model.setAttribute("description", "the global model's parameters, float32, one dataset per tensor with Hugging Face \(config?.familyName ?? "GPT-2") names and shapes")
        try model.setAttribute("parameter_count", tensors.reduce(0) { $0 + $1.count })
        try model.setAttribute(TensorChecksum.attribute + "_description", TensorChecksum.description)
        if let config {
            try model.setAttribute("architecture", config.architecture.rawValue)
            try model.setAttribute("config_json", HuggingFaceModel.configJSON(config))
            let shape = config.namedShape  // under the family's config.json names
            for size in shape.sizes { try model.setAttribute(size.name, size.value) }
            try model.setAttribute(shape.epsilon.name, shape.epsilon.value)
        }
        for tensor in tensors {
            let slice = UnsafeBufferPointer(rebasing: values[tensor.offset ..< tensor.offset + tensor.count])
            let dataset = try model.createDataset(tensor.name, shape: tensor.shape, values: slice)
            try dataset.setAttribute(TensorChecksum.attribute, TensorChecksum.of(slice))
            try dataset.setAttribute("description", RunSchema.tensorDescription(tensor, architecture: config?.architecture ?? .gpt2))
            try dataset.setAttribute("units", "1")
            if tensor.block >= 0 { try dataset.setAttribute("block", tensor.block) }
            try dataset.setAttribute("offset", tensor.offset)
        }

        let stateGroup = try file.createGroup("state")
        try stateGroup.setAttribute("description", "where the run stands after this round: what a resumed run needs besides the parameters")
        for dataset in StateSchema.datasets {
            let (cells, shape) = dataset.read(state)
            if dataset.optional, cells.count == 0 { continue }
            let written = try stateGroup.create(dataset.name, dataset.element, shape: shape, cells: cells)
            try written.setAttribute("description", dataset.description)
            try written.setAttribute("units", dataset.units.text(lossUnit: lossUnit))
        }

        // history.h5 as it stood after this round's row, so that a resume can restore a history
        // that a crash or a full disk damaged (docs/CHECKPOINTS.md).
        if let bytes = FileManager.default.contents(atPath: historyPath) {
            let copy = try file.createChecksummedDataset(RunSchema.historyCopy, shape: [bytes.count], values: [UInt8](bytes))
            try copy.setAttribute("description", "a byte copy of history.h5 as it stood when this checkpoint was written (rows up to this round); resume restores history.h5 from it when that file is missing or cannot be read")
            try copy.setAttribute("units", "byte")
        }

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
