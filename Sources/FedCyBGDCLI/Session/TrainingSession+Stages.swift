import Corpus
import Federation
import Foundation
import GPT
import HDF5Store
import Kernels

extension TrainingSession {
    /// The corpus and starting point of a run, before any file is written.
    struct LoadedRun {
        let plan: RunPlan
        let corpus: PartitionedCorpus
        let initial: ParameterBuffer
        /// On rank 0 when resuming: the store, the checkpoint, what was loaded from it and the job's changes.
        var resume: (store: HDF5RunStore, checkpoint: StoredCheckpoint, contents: CheckpointContents,
                     changes: [(key: String, change: String)])?
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
    func plan(rank: Int, size: Int, startup: Startup) throws -> RunPlan {
        if rank == 0, let folder = lockBeforeReading {
            startup.runFolder = folder
            startup.lock = try RunLock.acquire(folder: folder, resuming: true)
        }
        let plan = try RunPlan(job: loadJob())
        startup.runFolder = plan.runFolder
        let sizing = MemoryCheck(plan: plan, host: HostLayout.current(ranks: size))
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
    func load(_ plan: RunPlan, rank: Int, size: Int) throws -> LoadedRun {
        BLAS.setThreads(plan.blasThreads(host: HostLayout.current(ranks: size)))
        let corpus = try plan.loadCorpus()
        let layout = ParameterLayout(config: plan.settings.model)
        guard rank == 0 else {
            return LoadedRun(plan: plan, corpus: corpus, initial: ParameterBuffer(layout: layout))
        }
        if resume {
            let store = try HDF5RunStore(folder: plan.runFolder, keepCheckpoints: plan.job.keepCheckpoints,
                                         programVersion: FedCyBGDCommand.version, lossUnit: plan.model.tokenizer.lossUnit)
            if let checkpoint = try store.latestCheckpoint(passedOver: CheckpointChoice.passingOver) {
                return try loadResume(plan: plan, corpus: corpus, layout: layout, store: store, checkpoint: checkpoint)
            }
        }
        if resume { ProgressPrinter.say("no checkpoint in \(plan.runFolder): starting a new run") }
        // Before the run folder is written (or replaced): a bad model.init then leaves no files behind.
        return LoadedRun(plan: plan, corpus: corpus, initial: try plan.initialParameters(layout: layout))
    }

    private func loadResume(plan: RunPlan, corpus: PartitionedCorpus, layout: ParameterLayout, store: HDF5RunStore,
                            checkpoint: StoredCheckpoint) throws -> LoadedRun {
        let stored = try JobFile.parse(text: checkpoint.jobText, path: checkpoint.name)
        let changes = plan.job.differences(from: stored)
        let unsafe = changes.filter { !JobFile.safeToChangeOnResume.contains($0.key) }
        if !unsafe.isEmpty, !force {
            throw CLIError("the job differs from the one in \(checkpoint.name) in \(unsafe.map(\.key).joined(separator: ", ")) "
                + "(\(unsafe.map(\.change).joined(separator: "; "))); resume with the same job, or pass --force to accept the change")
        }
        let contents: CheckpointContents
        do {
            contents = try store.load(checkpoint, layout: layout)
        } catch let error as HDF5Error where error.kind == .mismatch {
            throw CLIError("\(error); this checkpoint is of another model: resume with its own job (fedcybgd resume \(plan.runFolder)) or start a new run with --output")
        }
        let initial = plan.settings.algorithm.resumesFromCheckpointModel ? contents.parameters : try plan.initialParameters(layout: layout)
        return LoadedRun(plan: plan, corpus: corpus, initial: initial, resume: (store, checkpoint, contents, changes))
    }

    /// Step 3 (rank 0): creates the run's files, or reopens them to resume.
    func write(_ run: LoadedRun, startup: Startup) throws -> PreparedRun {
        let plan = run.plan
        guard let lock = startup.lock else {
            return PreparedRun(plan: plan, corpus: run.corpus.corpus, initial: run.initial, store: nil, resuming: nil)
        }
        if let (store, checkpoint, contents, changes) = run.resume {
            startup.resuming = true
            startup.running = true
            let round = contents.state.round
            var prepared = PreparedRun(plan: plan, corpus: run.corpus.corpus, initial: run.initial, store: store, resuming: contents.state)
            let finished = round >= plan.settings.rounds
            if finished, store.holdsFinishedRun(throughRound: round) {
                prepared.alreadyFinished = "\(plan.runFolder) already completed \(round) of \(plan.settings.rounds) rounds; pass --rounds N to go further"
                return prepared
            }
            // A run killed after its final checkpoint, while its summary was written, has a history
            // to rebuild; the resumed run plays no round and writes the summary again.
            let note = (finished ? "finishing \(checkpoint.name) again (its history lacked the final summary)" : "resumed from \(checkpoint.name) at round \(round)")
                + (changes.isEmpty ? "" : " with changes: " + changes.map(\.change).joined(separator: "; "))
            // Before the ranks agree to start: a history that cannot be rebuilt stops every rank here.
            try store.resume(jobText: plan.job.effectiveTOML, layout: run.initial.layout, round: round, note: note)
            ProgressPrinter.say(note)
            return prepared
        }
        if replace || resume, RunFolder.holdsRun(plan.runFolder) { try RunFolder.clear(plan.runFolder, keeping: lock) }
        startup.created = RunFolder.runFiles(plan.runFolder).filter { !FileManager.default.fileExists(atPath: $0) }
        let store = try plan.savingRunFiles(HDF5RunStore(folder: plan.runFolder, keepCheckpoints: plan.job.keepCheckpoints,
                                                         programVersion: FedCyBGDCommand.version, lossUnit: plan.model.tokenizer.lossUnit))
        let partitioned = run.corpus
        try PartitionRecord.write(folder: plan.runFolder, scheme: plan.partition.name, clientNames: partitioned.corpus.clients.map(\.name),
                                  clientTokens: partitioned.corpus.clients.map(\.data.countedTokens), labels: partitioned.labels,
                                  labelTokens: partitioned.labelTokens)
        if plan.job.isInstructionData {
            try InstructionRecordFile.write(folder: plan.runFolder, corpus: partitioned.corpus, labels: partitioned.labels,
                                            skipped: partitioned.skipped)
        }
        startup.running = true
        return PreparedRun(plan: plan, corpus: partitioned.corpus, initial: run.initial, store: store, resuming: nil)
    }
}
