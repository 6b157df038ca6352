import ArgumentParser
import Kernels

/// `fedcybgd bench-kernels`: attention against the dense layers, per FLOP, at one layer's shapes.
struct KernelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Measure GFLOP/s of one layer's dense matmuls and of its attention (forward + backward).")

    @Option(help: "Embedding width.") var width = 256
    @Option(help: "Attention heads.") var heads = 8
    @Option(help: "Sequence length.") var sequence = 128
    @Option(help: "Batch size.") var batch = 8
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Timed repeats; the median is reported.") var steps = 20
    @Flag(help: "Time by the process's CPU time, not the wall clock (use with --threads 1 on a busy machine).")
    var cpuTime = false

    func run() throws {
        guard width % heads == 0 else { throw CLIError("--width \(width) is not a multiple of --heads \(heads); pick numbers that divide") }
        let previous = BLAS.threads
        BLAS.setThreads(threads)
        defer { BLAS.setThreads(previous) }
        let result = KernelBenchmark.run(batch: batch, sequence: sequence, channels: width, heads: heads, steps: steps, cpuTime: cpuTime)
        ProgressPrinter.say("kernels at B \(batch), T \(sequence), C \(width), \(heads) heads, \(threads) thread(s), \(KernelPath.current.rawValue) path, BLAS \(BLAS.configuration)")
        ProgressPrinter.say(result.description)
    }
}
