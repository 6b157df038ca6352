import ArgumentParser
import GPT
import Kernels

/// `fedcybgd bench`: training throughput of the engine, for the speed figures in docs/PERFORMANCE.md.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training tokens/s: a full step, and one-block steps on the first and last layer.")

    @Option(help: "Transformer layers.") var layers = 6
    @Option(help: "Embedding width.") var width = 256
    @Option(help: "Attention heads.") var heads = 8
    @Option(help: "Vocabulary size.") var vocab = 256
    @Option(help: "Sequence length.") var sequence = 128
    @Option(help: "Batch size.") var batch = 8
    @Option(help: "OpenBLAS threads.") var threads = 2
    @Option(help: "Untimed warm-up steps.") var warmup = 3
    @Option(help: "Timed steps; the median is reported.") var steps = 20

    func run() throws {
        #if DEBUG
        ProgressPrinter.say("warning: this is a debug build; build with -c release for meaningful figures")
        #endif
        guard width % heads == 0 else { throw CLIError("--width \(width) is not a multiple of --heads \(heads); pick numbers that divide") }
        let config = GPTConfig(vocabSize: vocab, contextLength: sequence, embedDim: width, layers: layers, heads: heads)
        let result = TrainingBenchmark.run(config: config, batch: batch, sequence: sequence, threads: threads,
                                           warmup: warmup, steps: steps)
        ProgressPrinter.say(result.description)
    }
}

/// `fedcybgd verify-reference DIR`: checks the engine against a Hugging Face reference folder.
struct VerifyReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-reference",
        abstract: "Compare forward, backward and AdamW with a reference folder (config.json, model.safetensors, expected.safetensors).")

    @Argument(help: "A folder in the layout of shared/fixtures/gpt2-tiny.")
    var folder: String

    func run() throws {
        let report = try ReferenceCheck.verify(folder: folder)
        ProgressPrinter.say(report.description)
        if !report.passed { throw ExitCode.failure }
    }
}
