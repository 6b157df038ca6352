import ArgumentParser

/// The `fedcybgd` command: federated cycle block gradient descent for GPT models, on MPI.
public struct FedCyBGDCommand: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "fedcybgd",
        abstract: "Train GPT language models by federated cycle block gradient descent (FedCyBGD) on MPI.",
        discussion: "Run under mpirun or srun: rank 0 is the server, ranks 1..P-1 host the clients.",
        version: version,
        subcommands: [TrainCommand.self, ResumeCommand.self, InspectCommand.self, BenchCommand.self, KernelBenchCommand.self, CheckpointBenchCommand.self, NetworkBenchCommand.self, VerifyReferenceCommand.self, KeysCommand.self,
                      ExportCommand.self, SampleCommand.self, TokenizeCommand.self]
    )

    public init() {}
}
