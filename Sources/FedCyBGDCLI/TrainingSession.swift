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
struct TrainingSession {
    let loadJob: () throws -> JobFile
    let resume: Bool
    let force: Bool
    let replace: Bool

    func run() throws {
        try MPIRuntime.initialize()
        StopSignals.install()
        let transport = try MPITransport()
        let setup: Result<PreparedRun, Error> = Result { try prepare(rank: transport.rank, size: transport.size) }
        try SetupAgreement.check(setup, transport: transport)
        let prepared = try setup.get()
        if let finished = prepared.alreadyFinished {
            // Only rank 0 read the checkpoint; the client ranks are already waiting for the
            // first round, so they are told to stop as they would be at the end of a run.
            ProgressPrinter.say(finished)
            try FedCyBGD.releaseClients(transport: transport)
            return
        }
        BLASStartup.noteOnce(rank: transport.rank)
        let summary = try abortingOtherRanksOnFailure(transport) { try FedCyBGD.run(
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
    private func abortingOtherRanksOnFailure<T>(_ transport: MPITransport, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            guard transport.size > 1 else { throw error }
            MPIRuntime.abort("error: \(error)", code: 1)
        }
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

    private func prepare(rank: Int, size: Int) throws -> PreparedRun {
        let plan = try RunPlan(job: loadJob())
        BLAS.setThreads(ThreadPlan.threads(requested: plan.job.threads, clientsPerRound: plan.settings.algorithm.poolsClients ? 1 : plan.settings.clientsPerRound, ranks: size))
        let partitioned = try plan.loadCorpus()
        let corpus = partitioned.corpus
        let layout = ParameterLayout(config: plan.settings.model)
        guard rank == 0 else {
            return PreparedRun(plan: plan, corpus: corpus, initial: ParameterBuffer(layout: layout), store: nil, resuming: nil)
        }
        if resume, let checkpoint = try CheckpointChoice.newest(in: plan.runFolder, warn: true) {
            return try prepareResume(plan: plan, corpus: corpus, layout: layout, checkpoint: checkpoint)
        }
        if resume { ProgressPrinter.say("no checkpoint in \(plan.runFolder): starting a new run") }
        // Before the run folder is made (or replaced): a bad model.init then leaves no files behind.
        let initial = try plan.initialParameters(layout: layout)
        let store = try plan.savingRunFiles(freshRunFolder(plan.runFolder, replacing: replace || resume, keep: plan.job.keepCheckpoints))
        try PartitionRecord.write(folder: plan.runFolder, scheme: plan.job.partition, clientNames: corpus.clients.map(\.name),
                                  clientTokens: corpus.clients.map(\.sampleCount), labels: partitioned.labels,
                                  labelTokens: partitioned.labelTokens)
        return PreparedRun(plan: plan, corpus: corpus, initial: initial, store: store, resuming: nil)
    }

    private func prepareResume(plan: RunPlan, corpus: FederatedCorpus, layout: ParameterLayout,
                               checkpoint: String) throws -> PreparedRun {
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
        let store = try HDF5RunStore(folder: plan.runFolder, keepCheckpoints: plan.job.keepCheckpoints,
                                     programVersion: FedCyBGDCommand.version)
        // A fedlora checkpoint's /model is the merged model; training continues from the
        // frozen base (model.init, unchanged by the run) plus the checkpoint's adapters.
        let initial = plan.settings.algorithm == .fedlora ? try plan.initialParameters(layout: layout) : loaded.parameters
        var prepared = PreparedRun(plan: plan, corpus: corpus, initial: initial, store: store, resuming: loaded.state)
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

    /// Creates the run folder, refusing to write over an earlier run unless asked to.
    private func freshRunFolder(_ folder: String, replacing: Bool, keep: Int) throws -> RunStore {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        if files.contains(where: { $0.hasSuffix(".h5") }) {
            guard replacing else {
                throw CLIError("run folder \(folder) already holds a run; pass --resume to continue it, --replace to overwrite it, or --output DIR to write elsewhere")
            }
            try FileManager.default.removeItem(atPath: folder)
        }
        return try HDF5RunStore(folder: folder, keepCheckpoints: keep, programVersion: FedCyBGDCommand.version)
    }
}

/// Picks the checkpoint to resume from: the newest complete one, passing over incomplete ones.
enum CheckpointChoice {
    static func newest(in folder: String, warn: Bool) throws -> String? {
        guard FileManager.default.fileExists(atPath: folder) else { return nil }
        for checkpoint in try HDF5RunReader.checkpoints(in: folder).reversed() {
            if HDF5RunReader.isComplete(checkpoint.path) { return checkpoint.path }
            if warn {
                FileHandle.standardError.write(Data("warning: passing over \(checkpoint.path): incomplete or unreadable checkpoint\n".utf8))
            }
        }
        return nil
    }

    static func jobText(of checkpoint: String) throws -> String {
        try HDF5RunReader.readJob(checkpoint)
    }
}

/// Makes every rank agree on whether set-up worked before the first round, so bad input ends
/// the whole job with one message instead of leaving ranks waiting on each other.
enum SetupAgreement {
    /// Rank 0 broadcasts whether its set-up worked. Rank 0 reports its own error; another rank
    /// reports its error only when rank 0's set-up worked (a file missing on one node, say).
    static func check<T>(_ setup: Result<T, Error>, transport: Transport) throws {
        var status: [UInt8] = transport.rank == 0 ? [setup.isSuccess ? 1 : 0] : []
        try transport.broadcast(&status, root: 0)
        let rootFailed = status != [1]
        guard case let .failure(error) = setup else {
            if rootFailed { throw ExitCode.success }
            return
        }
        if transport.rank == 0 { throw error }
        // When rank 0 failed too, it reports, and its exit status fails the job; exiting quietly
        // here lets it print before mpirun tears the job down.
        if rootFailed { throw ExitCode.success }
        throw CLIError("rank \(transport.rank): \(error)")
    }
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
