import Federation
import Foundation
import GPT

/// A checkpoint read back: the parameters, the run state and the job text.
public struct LoadedCheckpoint {
    public let parameters: ParameterBuffer
    public let state: RunState
    public let jobText: String
}

/// Reads the files `HDF5RunStore` writes. Every failure is an `HDF5Error` whose description is
/// one line naming the file and the problem.
public enum HDF5RunReader {
    /// The files named `checkpoint-<round>.h5` in `folder`, oldest round first. Does not open them.
    public static func checkpoints(in folder: String) throws -> [(round: Int, path: String)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw HDF5Error(.missing, file: folder, "cannot list the run folder (\(error.localizedDescription))")
        }
        return names.compactMap { name in
            RunSchema.checkpointRound(fileName: name).map { ($0, (folder as NSString).appendingPathComponent(name)) }
        }.sorted { $0.round < $1.round }
    }

    /// The newest checkpoint in `folder` that opens and is marked complete, or nil.
    public static func latestCompleteCheckpoint(in folder: String) throws -> String? {
        try checkpoints(in: folder).reversed().first { isComplete($0.path) }?.path
    }

    /// Whether `path` is an HDF5 file whose root attribute `complete` is 1.
    public static func isComplete(_ path: String) -> Bool {
        guard let file = try? HDF5File.open(path) else { return false }
        defer { try? file.close() }
        return (try? file.hasAttribute("complete")) == true && (try? file.attribute("complete", as: Int.self)) == 1
    }

    /// Loads a checkpoint for `layout`: checks it is complete and holds exactly the layout's
    /// tensors with their shapes, then reads the parameters, the state and the job.
    public static func loadCheckpoint(_ path: String, layout: ParameterLayout) throws -> LoadedCheckpoint {
        let file = try openCheckpoint(path)
        defer { try? file.close() }
        let parameters = ParameterBuffer(layout: layout)
        try readParameters(file, tensors: CheckpointTensor.list(layout), into: parameters.storage)
        let state = try readState(file)
        let job = try readJob(file)
        return LoadedCheckpoint(parameters: parameters, state: state, jobText: job)
    }

    /// Reads a checkpoint's `/model` tensors into `storage` at their offsets, after checking the
    /// file is complete and holds exactly these tensors with these shapes.
    public static func readParameters(_ path: String, tensors: [CheckpointTensor], into storage: UnsafeMutableBufferPointer<Float>) throws {
        let file = try openCheckpoint(path)
        defer { try? file.close() }
        try readParameters(file, tensors: tensors, into: storage)
    }

    /// Reads a checkpoint's `/state`.
    public static func readState(_ path: String) throws -> RunState {
        let file = try openCheckpoint(path)
        defer { try? file.close() }
        return try readState(file)
    }

    /// Reads a checkpoint's job text, checking it against its stored SHA-256.
    public static func readJob(_ path: String) throws -> String {
        let file = try openCheckpoint(path)
        defer { try? file.close() }
        return try readJob(file)
    }

    /// Reads every row of `/history` from a history.h5 (path of the file or of its run folder).
    public static func readHistory(_ path: String) throws -> [RoundRecord] {
        let file = try HDF5File.open(historyFile(path))
        defer { try? file.close() }
        let history = try file.openGroup("history")
        let rounds = try history.openDataset("round").read(as: Int.self)
        func column<T: HDF5Scalar>(_ name: String, _ type: T.Type) throws -> [T] {
            let values = try history.openDataset(name).read(as: T.self)
            guard values.count == rounds.count else {
                throw HDF5Error(.corrupt, file: file.file, "/history/\(name) has \(values.count) rows, /history/round has \(rounds.count)")
            }
            return values
        }
        let clientsDataset = try history.openDataset("clients")
        let width = try clientsDataset.shape().last ?? 1
        let clients = try clientsDataset.read(as: Int.self)
        guard clients.count == rounds.count * width else {
            throw HDF5Error(.corrupt, file: file.file, "/history/clients does not have one row per round")
        }
        let cycles = try column("cycle", Int.self), blocks = try column("block", Int.self)
        let trainLoss = try column("train_loss", Float.self), evalLoss = try column("eval_loss", Float.self)
        let down = try column("bytes_down", Int.self), up = try column("bytes_up", Int.self)
        let broadcast = try column("bytes_broadcast", Int.self)
        let rejected = try column("rejected_uploads", Int.self)
        let seconds = try column("seconds", Double.self), cpu = try column("server_cpu_seconds", Double.self)
        var records = rounds.indices.map { i in
            RoundRecord(round: rounds[i], cycle: cycles[i], block: blocks[i],
                        clients: clients[i * width ..< (i + 1) * width].filter { $0 >= 0 },
                        trainLoss: trainLoss[i], evalLoss: evalLoss[i], bytesDown: down[i], bytesUp: up[i],
                        bytesBroadcast: broadcast[i], rejectedUploads: rejected[i], seconds: seconds[i], serverCPUSeconds: cpu[i])
        }
        try HistoryMeasures.read(into: &records, from: history, file: file.file)
        return records
    }

    /// Reads `/summary` from a history.h5 (path of the file or of its run folder); nil if the
    /// run has not finished.
    public static func readSummary(_ path: String) throws -> RunSummary? {
        let file = try HDF5File.open(historyFile(path))
        defer { try? file.close() }
        guard try file.contains("summary") else { return nil }
        let group = try file.openGroup("summary")
        var summary = RunSummary(
            rounds: try group.attribute("rounds"), clients: try group.attribute("clients"),
            parameterCount: try group.attribute("parameter_count"),
            totalBytesDown: try group.attribute("total_bytes_down"), totalBytesUp: try group.attribute("total_bytes_up"),
            totalBytesBroadcast: try group.attribute("total_bytes_broadcast"),
            tokensTrained: try group.attribute("tokens_trained"),
            initialEvalLoss: try group.attribute("initial_eval_loss"), finalEvalLoss: try group.attribute("final_eval_loss"),
            wallSeconds: try group.attribute("wall_seconds"), serverCPUSeconds: try group.attribute("server_cpu_seconds"))
        // Runs written before these attributes existed keep the defaults.
        func optional<T: HDF5Scalar>(_ name: String, _ fallback: T) throws -> T {
            try group.hasAttribute(name) ? try group.attribute(name, as: T.self) : fallback
        }
        summary.rejectedUploads = try optional("rejected_uploads", summary.rejectedUploads)
        summary.bytesPerClientMean = try optional("bytes_per_client_mean", summary.bytesPerClientMean)
        summary.bytesPerClientMax = try optional("bytes_per_client_max", summary.bytesPerClientMax)
        summary.peakClientRSS = try optional("peak_client_rss", summary.peakClientRSS)
        summary.peakServerRSS = try optional("peak_server_rss", summary.peakServerRSS)
        summary.clientComputeFraction = try optional("client_compute_fraction", summary.clientComputeFraction)
        return summary
    }

    /// The job text recorded in a history.h5 (path of the file or of its run folder).
    public static func readHistoryJob(_ path: String) throws -> String {
        let file = try HDF5File.open(historyFile(path))
        defer { try? file.close() }
        return try file.stringAttribute("job")
    }

    // MARK: Internals

    private static func historyFile(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path as NSString).appendingPathComponent(RunSchema.historyFile)
        }
        return path
    }

    /// Opens a checkpoint read-only and checks `complete == 1`.
    private static func openCheckpoint(_ path: String) throws -> HDF5File {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber, size.intValue == 0 {
            throw HDF5Error(.notHDF5, file: path, "is empty (0 bytes), not an HDF5 file")
        }
        let file = try HDF5File.open(path)
        guard try file.hasAttribute("complete"), try file.attribute("complete", as: Int.self) == 1 else {
            throw HDF5Error(.incomplete, file: path, "incomplete checkpoint: the attribute complete = 1 is missing (the writer stopped before finishing it)")
        }
        return file
    }

    private static func readParameters(_ file: HDF5File, tensors: [CheckpointTensor], into storage: UnsafeMutableBufferPointer<Float>) throws {
        let path = file.file
        guard try file.contains("model") else { throw HDF5Error(.mismatch, file: path, "has no /model group") }
        let model = try file.openGroup("model")
        let expected = Set(tensors.map(\.name))
        if let extra = try model.memberNames().first(where: { !expected.contains($0) }) {
            throw HDF5Error(.mismatch, file: path, "wrong model shape: the checkpoint holds tensor \(extra), which the model does not have")
        }
        for tensor in tensors {
            guard tensor.offset >= 0, tensor.offset + tensor.count <= storage.count else {
                throw HDF5Error(.failed, file: path, "tensor \(tensor.name) lies outside the \(storage.count)-element parameter buffer")
            }
            guard try model.contains(tensor.name) else {
                throw HDF5Error(.mismatch, file: path, "wrong model shape: the checkpoint has no tensor \(tensor.name)")
            }
            let dataset = try model.openDataset(tensor.name)
            let shape = try dataset.shape()
            guard shape == tensor.shape else {
                throw HDF5Error(.mismatch, file: path, "wrong model shape: tensor \(tensor.name) is \(HDF5Library.shapeText(shape)) in the checkpoint, the model expects \(HDF5Library.shapeText(tensor.shape))")
            }
            guard try dataset.isFloatingPoint() else {
                throw HDF5Error(.mismatch, file: path, "tensor \(tensor.name) is not floating point")
            }
            try dataset.read(into: UnsafeMutableBufferPointer(rebasing: storage[tensor.offset ..< tensor.offset + tensor.count]))
        }
    }

    private static func readState(_ file: HDF5File) throws -> RunState {
        guard try file.contains("state") else { throw HDF5Error(.mismatch, file: file.file, "has no /state group") }
        let state = try file.openGroup("state")
        func scalar(_ name: String) throws -> Int { try state.openDataset(name).readScalar(as: Int.self) }
        func array(_ name: String) throws -> [Int] { try state.openDataset(name).read(as: Int.self) }
        func loss(_ name: String) throws -> Float { try state.openDataset(name).readScalar(as: Float.self) }
        var loaded = RunState(round: try scalar("round"), cycle: try scalar("cycle"), blockOrder: try array("block_order"),
                        clientLastSync: try array("client_last_sync"), blockChangedRound: try array("block_changed_round"),
                        totalBytesDown: try scalar("total_bytes_down"), totalBytesUp: try scalar("total_bytes_up"),
                        totalBytesBroadcast: try scalar("total_bytes_broadcast"), tokensTrained: try scalar("tokens_trained"),
                        rejectedUploads: try scalar("rejected_uploads"), initialEvalLoss: try loss("initial_eval_loss"),
                        lastEvalLoss: try loss("last_eval_loss"),
                        updateNorms: .init(recentNorms: try state.openDataset("update_norms").read(as: Double.self),
                                           acceptedCount: try scalar("update_norm_accepted")))
        try CheckpointExtras.read(from: state, into: &loaded)
        return loaded
    }

    private static func readJob(_ file: HDF5File) throws -> String {
        guard try file.contains("config") else { throw HDF5Error(.mismatch, file: file.file, "has no /config group") }
        let config = try file.openGroup("config")
        let job = try config.stringAttribute("job")
        let stored = try config.stringAttribute("job_sha256")
        guard SHA256.hex(job) == stored else {
            throw HDF5Error(.corrupt, file: file.file, "the job text does not match its stored SHA-256")
        }
        return job
    }
}
