import Federation
import Foundation
import GPT

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

    /// The newest checkpoint in `folder` that is complete and matches its checksums, or nil.
    public static func latestCompleteCheckpoint(in folder: String) throws -> String? {
        try checkpoints(in: folder).reversed().first { verificationFailure($0.path) == nil }?.path
    }

    /// Whether `path` is an HDF5 file whose root attribute `complete` is 1.
    public static func isComplete(_ path: String) -> Bool {
        guard let file = try? HDF5File.open(path) else { return false }
        defer { try? file.close() }
        return (try? file.hasAttribute("complete")) == true && (try? file.attribute("complete", as: Int.self)) == 1
    }

    /// Why the checkpoint at `path` cannot be trusted, or nil when it can: it must be complete,
    /// every `/model` tensor must match its checksum, and every `/state` dataset (and the history
    /// copy) must read back, which checks their Fletcher32 checksums. Reads the whole file.
    public static func verificationFailure(_ path: String) -> String? {
        guard isComplete(path) else { return "incomplete or not an HDF5 file" }
        do {
            let file = try HDF5File.open(path)
            defer { try? file.close() }
            for groupName in ["model", "state"] where try file.contains(groupName) {
                let group = try file.openGroup(groupName)
                for name in try group.memberNames() { try TensorChecksum.verify(group.openDataset(name)) }
            }
            if try file.contains(RunSchema.historyCopy) { try file.openDataset(RunSchema.historyCopy).readAllToVerify() }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The newest complete checkpoint in `folder` whose every dataset reads back and matches its
    /// checksum; each newer one that fails is told to `passedOver` with the failure.
    public static func latestVerifiedCheckpoint(in folder: String, passedOver: (_ path: String, _ problem: String) -> Void) throws -> String? {
        guard FileManager.default.fileExists(atPath: folder) else { return nil }
        for checkpoint in try checkpoints(in: folder).reversed() {
            guard let failure = verificationFailure(checkpoint.path) else { return checkpoint.path }
            passedOver(checkpoint.path, failure)
        }
        return nil
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
        let file = try openHistory(path)
        defer { try? file.close() }
        let history = try file.openGroup("history")
        return try HistoryTable(group: history, columns: HistorySchema.columns).read(file: file.file)
    }

    /// Reads `/summary` from a history.h5 (path of the file or of its run folder); nil if the
    /// run has not finished.
    public static func readSummary(_ path: String) throws -> RunSummary? {
        let file = try openHistory(path)
        defer { try? file.close() }
        guard try file.contains("summary") else { return nil }
        let group = try file.openGroup("summary")
        var summary = SummarySchema.empty
        // Attributes newer than the file (the instruction metrics) keep their defaults.
        for attribute in SummarySchema.attributes where try group.hasAttribute(attribute.name) {
            attribute.write(&summary, try group.attributeCells(attribute.name, as: attribute.element))
        }
        return summary
    }

    /// The task names of an instruction-data run (the per-task columns' order); empty for plain text.
    public static func readTasks(_ path: String) throws -> [String] {
        let file = try openHistory(path)
        defer { try? file.close() }
        let history = try file.openGroup("history")
        guard try history.hasAttribute(TaskColumns.tasksAttribute) else { return [] }
        return try history.stringAttribute(TaskColumns.tasksAttribute).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Per task (in the order of `readTasks`), the counted validation targets the evaluation
    /// batches hold; empty when the run records no tasks.
    public static func readValidationTokens(_ path: String) throws -> [Int] {
        let file = try openHistory(path)
        defer { try? file.close() }
        let history = try file.openGroup("history")
        guard try history.hasAttribute(TaskColumns.tokensAttribute) else { return [] }
        return try history.attributeValues(TaskColumns.tokensAttribute, as: Int.self)
    }

    /// The job text recorded in a history.h5 (path of the file or of its run folder).
    public static func readHistoryJob(_ path: String) throws -> String {
        let file = try HDF5File.open(historyFile(path))
        defer { try? file.close() }
        return try file.stringAttribute("job")
    }

    /// The bytes of a checkpoint's `/history_copy` (history.h5 as it stood after that round's
    /// row), checked against its Fletcher32 checksum; nil when it has none or it does not verify.
    public static func historyCopy(in checkpoint: String) -> [UInt8]? {
        guard let file = try? HDF5File.open(checkpoint, writable: false) else { return nil }
        defer { try? file.close() }
        return try? file.openDataset(RunSchema.historyCopy).read(as: UInt8.self)
    }

    // MARK: Internals

    /// Opens a history.h5 (path of the file or of its run folder) read-only and checks its format.
    private static func openHistory(_ path: String) throws -> HDF5File {
        let file = try HDF5File.open(historyFile(path))
        do { try RunSchema.checkFormat(file, path: file.file) } catch { try? file.close(); throw error }
        return file
    }

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
        do { try RunSchema.checkFormat(file, path: path) } catch { try? file.close(); throw error }
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
            let slice = UnsafeMutableBufferPointer(rebasing: storage[tensor.offset ..< tensor.offset + tensor.count])
            try dataset.read(into: slice)
            // Every load checks what it read, so a tensor changed on disk is never trained on.
            try TensorChecksum.check(dataset, holding: UnsafeBufferPointer(slice))
        }
    }

    private static func readState(_ file: HDF5File) throws -> RunState {
        guard try file.contains("state") else { throw HDF5Error(.mismatch, file: file.file, "has no /state group") }
        let group = try file.openGroup("state")
        var state = StateSchema.empty
        for dataset in StateSchema.datasets {
            guard try group.contains(dataset.name) else {
                if dataset.optional { continue }
                throw HDF5Error(.corrupt, file: file.file, "/state/\(dataset.name) is missing")
            }
            let opened = try group.openDataset(dataset.name)
            dataset.write(&state, try opened.readCells(dataset.element), try opened.shape())
        }
        return state
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
