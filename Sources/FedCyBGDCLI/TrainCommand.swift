import ArgumentParser
import Corpus
import Federation
import Foundation
import GPT
import HDF5Store
import Kernels
import MPITransport

/// `fedcybgd train JOB`: runs a job file on every rank of the MPI job.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run a FedCyBGD job file (under mpirun for several ranks).")

    @Argument(help: "The TOML job file, e.g. jobs/demo.toml.")
    var job: String

    @Option(help: "Folder for run folders (overrides the job's 'output'); the run goes to DIR/<name>.")
    var output: String?

    @Option(help: "Total rounds (overrides 'train.rounds' and 'train.cycles').")
    var rounds: Int?

    @Option(help: "Random seed (overrides 'seed').")
    var seed: UInt64?

    @Option(help: "OpenBLAS threads per rank (overrides 'train.threads'; 0 picks from cores and ranks).")
    var threads: Int?

    @Option(help: "Write a checkpoint every N rounds (overrides 'train.checkpoint_every').")
    var checkpointEvery: Int?

    @Flag(help: "Replace an existing run folder of the same name instead of refusing.")
    var replace = false

    func run() throws {
        try MPIRuntime.initialize()
        let transport = try MPITransport()
        let setup: Result<PreparedRun, Error> = Result { try prepare(rank: transport.rank, size: transport.size) }
        try SetupAgreement.check(setup, transport: transport)
        let prepared = try setup.get()
        try FedCyBGD.run(settings: prepared.plan.settings, corpus: prepared.corpus, initial: prepared.initial,
                         transport: transport, store: prepared.store, jobText: prepared.plan.job.text,
                         observer: transport.rank == 0 ? ProgressPrinter(layout: prepared.initial.layout) : nil)
        if transport.rank == 0 { ProgressPrinter.say("run written to \(prepared.plan.runFolder)/ (history.h5, checkpoint-*.h5)") }
    }

    /// Everything a rank needs before the first round.
    struct PreparedRun {
        let plan: RunPlan
        let corpus: FederatedCorpus
        let initial: ParameterBuffer
        let store: RunStore?
    }

    private func prepare(rank: Int, size: Int) throws -> PreparedRun {
        let plan = RunPlan(job: try effectiveJob())
        BLAS.setThreads(ThreadPlan.threads(requested: plan.job.threads, clientsPerRound: plan.settings.clientsPerRound, ranks: size))
        let corpus = try plan.loadCorpus()
        let layout = ParameterLayout(config: plan.settings.model)
        let initial = rank == 0 ? ParameterBuffer.initialized(layout: layout, seed: plan.settings.seed) : ParameterBuffer(layout: layout)
        let store: RunStore? = rank == 0 ? try prepareRunFolder(plan.runFolder) : nil
        return PreparedRun(plan: plan, corpus: corpus, initial: initial, store: store)
    }

    /// The job file with the command line's overrides applied and recorded in its text.
    private func effectiveJob() throws -> JobFile {
        var job = try JobFile.load(path: self.job)
        var overrides: [String] = []
        if let output { job.output = output; overrides.append("output = \"\(output)\"") }
        if let rounds { job.rounds = rounds; job.cycles = nil; overrides.append("train.rounds = \(rounds)") }
        if let seed { job.seed = seed; overrides.append("seed = \(seed)") }
        if let threads { job.threads = threads; overrides.append("train.threads = \(threads)") }
        if let checkpointEvery { job.checkpointEvery = checkpointEvery; overrides.append("train.checkpoint_every = \(checkpointEvery)") }
        try job.validate()
        if !overrides.isEmpty {
            job.text += "\n# command-line overrides:\n" + overrides.map { "#   \($0)\n" }.joined()
        }
        return job
    }

    /// Creates the run folder, refusing to write over an earlier run unless asked to.
    private func prepareRunFolder(_ folder: String) throws -> RunStore {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        if files.contains(where: { $0.hasSuffix(".h5") }) {
            guard replace else {
                throw CLIError("run folder \(folder) already holds a run; pass --replace to overwrite it, or --output DIR to write elsewhere")
            }
            try FileManager.default.removeItem(atPath: folder)
        }
        return try HDF5RunStore(folder: folder, programVersion: FedCyBGDCommand.version)
    }
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
