import ArgumentParser
import Corpus
import Federation
import Foundation
import SystemMetrics
import GPT
import HDF5Store
import Kernels
import MPITransport

/// One rank's part of a training run: set-up, agreement that every rank is ready, the rounds,
/// and the exit status.
///
/// Set-up runs in three steps, each ended by an agreement of every rank (`SetupAgreement`), so
/// nothing is written to the run folder until every rank has its job, its memory and its data:
/// 1. read the job, estimate each rank's memory and refuse a job that does not fit (nothing is
///    allocated yet); rank 0 locks the run folder (`RunLock`) and checks it may write there;
/// 2. load the corpus, and the starting model or the checkpoint to resume;
/// 3. rank 0 creates or reopens the run's files.
/// Until step 3, SIGTERM and SIGUSR1 end the process at once (`StopSignals`); a failed start
/// removes what it made, so it never blocks the next one.
struct TrainingSession {
    let loadJob: () throws -> JobFile
    let resume: Bool
    let force: Bool
    let replace: Bool
    /// `train --dry-run`: print the memory estimate per rank and stop, creating nothing.
    var dryRun = false
    /// `resume runs/<name>`: the folder, locked before its checkpoint is read for the job.
    var lockBeforeReading: String? = nil

    func run() throws {
        try MPIRuntime.initialize()
        let transport = try MPITransport()
        do {
            try start(transport: transport)
        } catch is QuietExit {
            throw ExitCode.success
        }
    }

    private func start(transport: MPITransport) throws {
        StopSignals.install(reporting: transport.rank == 0)
        let startup = Startup()
        defer { startup.lock?.release() }
        do {
            let planned: Result<RunPlan, Error> = Result { try self.plan(rank: transport.rank, size: transport.size, startup: startup) }
            try SetupAgreement.check(planned, transport: transport)
            let runPlan = try planned.get()
            if dryRun { return }
            let loaded: Result<LoadedRun, Error> = Result { try load(runPlan, rank: transport.rank, size: transport.size) }
            try SetupAgreement.check(loaded, transport: transport)
            StopSignals.setUpFinished()
            let written: Result<PreparedRun, Error> = Result { try write(loaded.get(), startup: startup) }
            try SetupAgreement.check(written, transport: transport)
            try train(written.get(), transport: transport, startup: startup)
        } catch {
            if !startup.running { startup.abandon() }
            // Set-up writes only on rank 0 (the lock, the tokenizer, the token cache,
            // partition.h5, a restored history), which reports its own failure.
            if let folder = startup.runFolder,
               let full = DiskFull.setUpMessage(for: error, runFolder: folder, resuming: startup.resuming) {
                FileHandle.standardError.write(Data((full + "\n").utf8))
                throw ExitCode(DiskFull.exitCode)
            }
            throw error
        }
    }

    private func train(_ prepared: PreparedRun, transport: MPITransport, startup: Startup) throws {
        if let finished = prepared.alreadyFinished {
            // Only rank 0 read the checkpoint; the client ranks are already waiting for the
            // first round, so they are told to stop as they would be at the end of a run.
            ProgressPrinter.say(finished)
            try FedCyBGD.releaseClients(transport: transport)
            return
        }
        BLASStartup.noteOnce(rank: transport.rank)
        SilentRank.watch(transport, seconds: prepared.plan.job.roundTimeout ?? JobFile.defaultRoundTimeout,
                         runFolder: prepared.plan.runFolder)
        let summary = try abortingOtherRanksOnFailure(transport, prepared: prepared, startup: startup) { try FedCyBGD.run(
            settings: prepared.plan.settings, corpus: prepared.corpus, initial: prepared.initial,
            transport: transport, store: prepared.store, jobText: prepared.plan.job.effectiveTOML,
            observer: transport.rank == 0 ? ProgressPrinter(layout: prepared.initial.layout) : nil,
            probe: SystemProcessProbe(), resuming: prepared.resuming, stopRequested: { StopSignals.requested != nil }) }
        guard transport.rank == 0, let summary else { return }
        let folder = prepared.plan.runFolder
        if summary.interrupted {
            ProgressPrinter.say("stopped on signal after round \(summary.rounds) with a checkpoint in \(folder)/; continue with: fedcybgd resume \(folder)")
            throw ExitCode(StopSignals.exitCode)
        }
        ProgressPrinter.say("run written to \(folder)/ (history.h5, checkpoint-*.h5)")
    }

    /// Runs `body`; when it fails on one rank of several, ends the whole job with MPI_Abort and the
    /// error's message, since the other ranks are waiting for a round that will never come.
    /// A full disk is told as such, with its own exit status (`DiskFull`).
    private func abortingOtherRanksOnFailure<T>(_ transport: MPITransport, prepared: PreparedRun, startup: Startup,
                                                _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            let full = diskFullLine(for: error, prepared: prepared, startup: startup)
            if transport.size > 1 { MPIRuntime.abort(full ?? "error: \(error)", code: full == nil ? 1 : DiskFull.exitCode) }
            guard let full else { throw error }
            FileHandle.standardError.write(Data((full + "\n").utf8))
            throw ExitCode(DiskFull.exitCode)
        }
    }

    /// The line for a full disk during the rounds, which depends on what the folder holds: with
    /// a checkpoint, resume; with neither a checkpoint nor a row (history.h5 was being made),
    /// the start failed and its files are removed, so the same command starts again; with rows
    /// but no checkpoint, start again with --replace.
    private func diskFullLine(for error: Error, prepared: PreparedRun, startup: Startup) -> String? {
        let folder = prepared.plan.runFolder
        guard DiskFull.limit(of: error) != nil else { return nil }
        if (try? HDF5RunReader.latestCompleteCheckpoint(in: folder)) ?? nil != nil {
            return DiskFull.message(for: error, runFolder: folder)
        }
        if prepared.resuming == nil, ((try? HDF5RunReader.readHistory(folder)) ?? []).isEmpty {
            startup.abandon()
            return DiskFull.setUpMessage(for: error, runFolder: folder, resuming: false)
        }
        return DiskFull.beforeFirstCheckpointMessage(for: error, runFolder: folder, jobPath: prepared.plan.job.path)
    }

    /// What a start holds on rank 0 until its run is under way: the lock, and the files it made.
    final class Startup {
        var lock: RunLock?
        /// Files and folders this start created in the run folder (a fresh start's run files).
        var created: [String] = []
        /// Set once the run's files are in place: from then on a failure is the run's, not the start's.
        var running = false
        /// The run folder, once known (for a full disk's message).
        var runFolder: String?
        /// Set when the start continues a run from a checkpoint (a failure leaves that run as it was).
        var resuming = false

        /// After a failed start: removes what it created, then releases the lock (and the run
        /// folder, when the start made it and it is empty).
        func abandon() {
            for path in created.reversed() { try? FileManager.default.removeItem(atPath: path) }
            created = []
            lock?.abandon()
            lock = nil
        }
    }

    /// The corpus and starting point of a run, before any file is written.
    struct LoadedRun {
        let plan: RunPlan
        let corpus: PartitionedCorpus
        let initial: ParameterBuffer
        /// On rank 0 when resuming: the checkpoint and what was loaded from it.
        var checkpoint: (path: String, loaded: LoadedCheckpoint, changes: [(key: String, change: String)])?
    }

    /// Everything a rank needs before the first round.
    struct PreparedRun {
        let plan: RunPlan
        let corpus: FederatedCorpus
        let initial: ParameterBuffer
        let store: RunStore?
        let resuming: RunState?
        /// Set when a resumed run has nothing left to do: the message to print.
        var alreadyFinished: String?
    }

    /// Step 1: the job, its memory estimate, and (rank 0) the lock. Allocates nothing large and writes nothing but the lock.
    private func plan(rank: Int, size: Int, startup: Startup) throws -> RunPlan {
        if rank == 0, let folder = lockBeforeReading {
            startup.runFolder = folder
            startup.lock = try RunLock.acquire(folder: folder, resuming: true)
        }
        let plan = try RunPlan(job: loadJob())
        startup.runFolder = plan.runFolder
        let threads = ThreadPlan.threads(requested: plan.job.threads, clientsPerRound: plan.settings.algorithm.poolsClients ? 1 : plan.settings.clientsPerRound, ranks: size)
        let sizing = MemoryCheck(plan: plan, threads: threads)
        if dryRun {
            if rank == 0 { sizing.report(size: size) }
            return plan
        }
        try sizing.check(rank: rank, size: size)
        guard rank == 0 else { return plan }
        if startup.lock == nil { startup.lock = try RunLock.acquire(folder: plan.runFolder, resuming: resume) }
        if !(replace || resume), RunFolder.holdsRun(plan.runFolder) {
            throw CLIError("run folder \(plan.runFolder) already holds a run; pass --resume to continue it, --replace to overwrite it, or --output DIR to write elsewhere")
        }
        return plan
    }

    /// Step 2: the corpus, and the starting model or (rank 0, resuming) the checkpoint.
    private func load(_ plan: RunPlan, rank: Int, size: Int) throws -> LoadedRun {
        BLAS.setThreads(ThreadPlan.threads(requested: plan.job.threads, clientsPerRound: plan.settings.algorithm.poolsClients ? 1 : plan.settings.clientsPerRound, ranks: size))
        let corpus = try plan.loadCorpus()
        let layout = ParameterLayout(config: plan.settings.model)
        guard rank == 0 else {
            return LoadedRun(plan: plan, corpus: corpus, initial: ParameterBuffer(layout: layout))
        }
        if resume, let checkpoint = try CheckpointChoice.newest(in: plan.runFolder, warn: true) {
            return try loadResume(plan: plan, corpus: corpus, layout: layout, checkpoint: checkpoint)
        }
        if resume { ProgressPrinter.say("no checkpoint in \(plan.runFolder): starting a new run") }
        // Before the run folder is written (or replaced): a bad model.init then leaves no files behind.
        return LoadedRun(plan: plan, corpus: corpus, initial: try plan.initialParameters(layout: layout))
    }

    private func loadResume(plan: RunPlan, corpus: PartitionedCorpus, layout: ParameterLayout,
                            checkpoint: String) throws -> LoadedRun {
        let stored = try JobFile.parse(text: try CheckpointChoice.jobText(of: checkpoint), path: checkpoint)
        let changes = plan.job.differences(from: stored)
        let unsafe = changes.filter { !JobFile.safeToChangeOnResume.contains($0.key) }
        if !unsafe.isEmpty, !force {
            throw CLIError("the job differs from the one in \(checkpoint) in \(unsafe.map(\.key).joined(separator: ", ")) "
                + "(\(unsafe.map(\.change).joined(separator: "; "))); resume with the same job, or pass --force to accept the change")
        }
        let loaded: LoadedCheckpoint
        do {
            loaded = try HDF5RunReader.loadCheckpoint(checkpoint, layout: layout)
        } catch let error as HDF5Error where error.kind == .mismatch {
            throw CLIError("\(error); this checkpoint is of another model: resume with its own job (fedcybgd resume \(plan.runFolder)) or start a new run with --output")
        }
        // A fedlora checkpoint's /model is the merged model; training continues from the
        // frozen base (model.init, unchanged by the run) plus the checkpoint's adapters.
        let initial = plan.settings.algorithm == .fedlora ? try plan.initialParameters(layout: layout) : loaded.parameters
        return LoadedRun(plan: plan, corpus: corpus, initial: initial, checkpoint: (checkpoint, loaded, changes))
    }

    /// Step 3 (rank 0): creates the run's files, or reopens them to resume.
    private func write(_ run: LoadedRun, startup: Startup) throws -> PreparedRun {
        let plan = run.plan
        guard let lock = startup.lock else {
            return PreparedRun(plan: plan, corpus: run.corpus.corpus, initial: run.initial, store: nil, resuming: nil)
        }
        if let (checkpoint, loaded, changes) = run.checkpoint {
            startup.resuming = true
            let store = try HDF5RunStore(folder: plan.runFolder, keepCheckpoints: plan.job.keepCheckpoints,
                                         programVersion: FedCyBGDCommand.version)
            startup.running = true
            var prepared = PreparedRun(plan: plan, corpus: run.corpus.corpus, initial: run.initial, store: store, resuming: loaded.state)
            if loaded.state.round >= plan.settings.rounds {
                prepared.alreadyFinished = "\(plan.runFolder) already completed \(loaded.state.round) of \(plan.settings.rounds) rounds; pass --rounds N to go further"
                return prepared
            }
            let note = "resumed from \(checkpoint) at round \(loaded.state.round)"
                + (changes.isEmpty ? "" : " with changes: " + changes.map(\.change).joined(separator: "; "))
            // Before the ranks agree to start: a history that cannot be rebuilt stops every rank here.
            try store.prepareHistory(resumingAt: loaded.state.round)
            try store.noteResume(note)
            ProgressPrinter.say(note)
            return prepared
        }
        if replace || resume, RunFolder.holdsRun(plan.runFolder) { try RunFolder.clear(plan.runFolder, keeping: lock) }
        startup.created = RunFolder.runFiles(plan.runFolder).filter { !FileManager.default.fileExists(atPath: $0) }
        let store = try plan.savingRunFiles(HDF5RunStore(folder: plan.runFolder, keepCheckpoints: plan.job.keepCheckpoints,
                                                         programVersion: FedCyBGDCommand.version))
        let partitioned = run.corpus
        try PartitionRecord.write(folder: plan.runFolder, scheme: plan.job.partition, clientNames: partitioned.corpus.clients.map(\.name),
                                  clientTokens: partitioned.corpus.clients.map { $0.rows?.countedTotal ?? $0.sampleCount }, labels: partitioned.labels,
                                  labelTokens: partitioned.labelTokens)
        if plan.job.instruction.isJSONL {
            try InstructionRecordFile.write(folder: plan.runFolder, corpus: partitioned.corpus, labels: partitioned.labels,
                                            skipped: partitioned.skipped)
        }
        startup.running = true
        return PreparedRun(plan: plan, corpus: partitioned.corpus, initial: run.initial, store: store, resuming: nil)
    }
}

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

/// Makes every rank agree on whether set-up worked before going on, so bad input ends the whole
/// job with one message instead of leaving ranks waiting on each other, and rank 0 writes no file
/// unless every rank is ready.
enum SetupAgreement {
    /// The status messages' tag, which no other message uses.
    static let tag = MessageTag.setupAgreement

    /// Every rank tells rank 0 whether its set-up worked; rank 0 broadcasts the lowest rank that
    /// failed. That rank reports its error (prefixed with its rank unless it is rank 0) and every
    /// other rank exits quietly: the failed rank's exit status fails the job.
    static func check<T>(_ setup: Result<T, Error>, transport: Transport) throws {
        let mine: UInt8 = setup.isSuccess ? 1 : 0
        var verdict: [UInt8] = []
        if transport.rank == 0 {
            var failed = mine == 1 ? -1 : 0
            for rank in 1..<max(transport.size, 1) {
                let status = try transport.receive(from: rank, tag: tag, maxBytes: 1)
                if failed < 0, status != [1] { failed = rank }
            }
            verdict = withUnsafeBytes(of: Int32(failed).littleEndian) { Array($0) }
        } else {
            try [mine].withUnsafeBytes { try transport.send($0, to: 0, tag: tag) }
        }
        try transport.broadcast(&verdict, root: 0)
        guard verdict.count == 4 else { throw CLIError("rank \(transport.rank): set-up agreement garbled; check that every rank runs the same program") }
        let failed = Int(Int32(littleEndian: verdict.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
        guard failed >= 0 else { return }
        guard failed == transport.rank, case let .failure(error) = setup else { throw QuietExit(rankThatFailed: failed) }
        if transport.rank == 0 { throw error }
        throw CLIError("rank \(transport.rank): \(error)")
    }
}

/// Ends a rank whose set-up worked when another rank's did not: that rank reports the problem,
/// and its exit status fails the job (exiting quietly lets it print before mpirun tears the job down).
struct QuietExit: Error {
    let rankThatFailed: Int
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}

/// How many OpenBLAS threads each rank gets, so computing ranks never outnumber the cores.
enum ThreadPlan {
    static func threads(requested: Int, clientsPerRound: Int, ranks: Int) -> Int {
        if requested > 0 { return requested }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let localRanks = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? ranks
        // With k clients per round, at most min(k, client ranks here) ranks compute at once.
        let busy = max(1, min(clientsPerRound, max(localRanks - 1, 1)))
        return max(1, cores / busy)
    }
}
