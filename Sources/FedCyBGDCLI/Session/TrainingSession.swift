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
            observer: transport.rank == 0 ? ProgressPrinter(layout: prepared.initial.layout, lossUnit: prepared.plan.model.tokenizer.lossUnit) : nil,
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


}
