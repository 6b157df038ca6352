import ArgumentParser
import Foundation
import HDF5Store

/// `fedcybgd train JOB`: runs a job file on every rank of the MPI job.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run a FedCyBGD job file (under mpirun for several ranks).",
        discussion: """
            SIGTERM or SIGUSR1 (to rank 0, or SIGUSR1 to mpirun, which forwards it) stops the run after \
            the round in flight with a checkpoint and exit status \(StopSignals.exitCode); --resume continues it.
            """)

    @Argument(help: "The TOML job file, e.g. jobs/demo.toml.")
    var job: String

    @OptionGroup var overrides: JobOverrides

    @Flag(help: "Continue from the newest complete checkpoint in the run folder (start afresh if it has none).")
    var resume = false

    @Flag(help: "With --resume: continue even if the job differs from the checkpoint's in keys that change the result.")
    var force = false

    @Flag(help: "Replace an existing run folder of the same name instead of refusing.")
    var replace = false

    @Flag(help: "Print each rank's estimated peak memory and whether the job fits this host, then exit without creating anything.")
    var dryRun = false

    func run() throws {
        var session = TrainingSession(loadJob: { try overrides.apply(to: JobFile.load(path: job)) },
                                      resume: resume, force: force, replace: replace)
        session.dryRun = dryRun
        try session.run()
    }
}

/// `fedcybgd resume runs/<name>`: continues a run with the job stored in its newest checkpoint.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a run from its newest complete checkpoint, with the job stored in it.")

    @Argument(help: "The run folder, e.g. runs/demo.")
    var runFolder: String

    @OptionGroup var overrides: JobOverrides

    @Flag(help: "Continue even if an override changes the result.")
    var force = false

    func run() throws {
        let folder = runFolder
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw CLIError("\(folder): no such run folder; give the folder of a run (runs/<name>), or start one with 'fedcybgd train JOB'")
        }
        var session = TrainingSession(loadJob: {
            // The damaged checkpoints passed over here are named when the run is loaded.
            guard let checkpoint = try HDF5RunStore(folder: folder).latestCheckpoint(passedOver: { _, _ in }) else {
                throw CLIError("\(folder): no complete checkpoint to resume from; start the run with 'fedcybgd train JOB'")
            }
            var job = try JobFile.parse(text: checkpoint.jobText, path: checkpoint.name)
            // The stored output is where the run was; the folder given here is where it is now.
            job.output = (folder as NSString).deletingLastPathComponent
            job.name = (folder as NSString).lastPathComponent
            return try overrides.apply(to: job)
        }, resume: true, force: force, replace: false)
        session.lockBeforeReading = folder
        try session.run()
    }
}

/// Command-line flags that override job keys.
struct JobOverrides: ParsableArguments {
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

    /// The job with these overrides applied.
    func apply(to loaded: JobFile) throws -> JobFile {
        var job = loaded
        if let output { job.output = output }
        if let rounds { job.rounds = rounds; job.cycles = nil }
        if let seed { job.seed = seed }
        if let threads { job.threads = threads }
        if let checkpointEvery { job.checkpointEvery = checkpointEvery }
        try job.validate()
        return job
    }
}
