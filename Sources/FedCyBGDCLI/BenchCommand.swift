import ArgumentParser
import Foundation
import GPT
import Kernels

/// `fedcybgd bench`: training throughput of the engine, for the speed figures in docs/PERFORMANCE.md.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training tokens/s: a full step, and one-block steps on the first and last layer.")

    @Option(help: "Model family: gpt2 or llama (Llama defaults follow shared/bench/torch_llama_bench.py).") var architecture = "gpt2"
    @Option(help: "Llama key/value heads (default: half the heads).") var kvHeads: Int?
    @Option(help: "Llama MLP width.") var intermediate = 688
    @Flag(help: "Llama: tie the output head to the token embedding.") var tied = false
    @Option(help: "Transformer layers.") var layers = 6
    @Option(help: "Embedding width.") var width = 256
    @Option(help: "Attention heads.") var heads = 8
    @Option(help: "Vocabulary size.") var vocab = 256
    @Option(help: "Sequence length.") var sequence = 128
    @Option(help: "Batch size.") var batch = 8
    @Option(help: "OpenBLAS threads.") var threads = 2
    @Option(help: "Untimed warm-up steps.") var warmup = 3
    @Option(help: "Timed steps; the median is reported.") var steps = 20
    @Option(help: "The cases to run, comma-separated: full, first, last.") var cases = "full,first,last"
    @Flag(help: "Print the machine and plain sgemm's GFLOP/s at this model's matmul shapes (OpenBLAS's threading, then the engine's split), and skip the training steps.")
    var sgemmOnly = false
    @Flag(inversion: .prefixedNo, help: "Time plain-sgemm sweeps over the step's dense products around each case's steps, for of_sgemm=.")
    var sgemmReference = true
    @Flag(help: "Also print every timed step's milliseconds: the whole step, the dense layers and attention.")
    var perStep = false

    func run() throws {
        #if DEBUG
        ProgressPrinter.say("warning: this is a debug build; build with -c release for meaningful figures")
        #endif
        guard width % heads == 0 else { throw CLIError("--width \(width) is not a multiple of --heads \(heads); pick numbers that divide") }
        guard layers > 0, width > 0, vocab > 0, sequence > 0, batch > 0, threads > 0, warmup >= 0, steps > 0 else {
            throw CLIError("--layers, --width, --vocab, --sequence, --batch, --threads and --steps must be positive, --warmup not negative")
        }
        var kinds = Set<TrainingBenchmark.CaseKind>()
        for name in cases.split(separator: ",") {
            guard let kind = TrainingBenchmark.CaseKind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("--cases: unknown case '\(name)'; use full, first and last, comma-separated")
            }
            kinds.insert(kind)
        }
        guard !kinds.isEmpty else { throw CLIError("--cases names no case; use full, first and last, comma-separated") }
        BLASStartup.noteOnce()
        guard let family = Architecture(rawValue: architecture) else {
            throw CLIError("--architecture must be gpt2 or llama, not \(architecture)")
        }
        var config = GPTConfig(vocabSize: vocab, contextLength: sequence, embedDim: width, layers: layers, heads: heads)
        if family == .llama {
            config = .llama(vocabSize: vocab, contextLength: sequence, embedDim: width, layers: layers, heads: heads,
                            keyValueHeads: kvHeads ?? max(1, heads / 2), intermediateSize: intermediate, tiedHead: tied)
            do { try config.validate() } catch { throw CLIError("\(error); change --heads, --kv-heads or --width") }
        }
        for line in Self.machineLines() { ProgressPrinter.say(line) }
        if sgemmOnly {
            let sgemm = TrainingBenchmark.sgemmRate(config: config, batch: batch, sequence: sequence, threads: threads)
            ProgressPrinter.say("sgemm:   plain cblas_sgemm at this model's matmul shapes (each layer's and the head's forward and "
                + "backward products, weighted by FLOPs), \(threads) OpenBLAS thread(s): GFLOP/s=\(String(format: "%.1f", sgemm / 1e9))")
            let split = TrainingBenchmark.sgemmRate(config: config, batch: batch, sequence: sequence, threads: threads, split: true)
            ProgressPrinter.say("sgemm-split: the same products as \(threads) single-threaded calls side by side (the engine's "
                + "parallelSgemm): GFLOP/s=\(String(format: "%.1f", split / 1e9))")
            return
        }
        if sgemmReference {
            ProgressPrinter.say("sgemm:   right before each case's warm-up and right after its timed steps, \(TrainingBenchmark.referenceSweeps) sweeps of plain cblas_sgemm "
                + "with \(threads) OpenBLAS thread(s) over a full step's dense products (each layer's and the head's, forward and "
                + "backward); sgemm_GFLOP/s = the sweeps' median, of_sgemm = the step's GFLOP/s over it")
        }
        let result = TrainingBenchmark.run(config: config, batch: batch, sequence: sequence, threads: threads,
                                           warmup: warmup, steps: steps, sgemmReference: sgemmReference, cases: kinds)
        ProgressPrinter.say(result.description)
        if perStep { ProgressPrinter.say(result.perStepDescription) }
    }

    /// The CPU, the BLAS library and its kernel set (and where OPENBLAS_CORETYPE came from), and our
    /// element-wise kernel path.
    static func machineLines(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let model = CPU.model.isEmpty ? "unknown" : CPU.model
        let source = BLASStartup.source(environment: environment)
        let setting = source == .auto ? source.rawValue
            : "OPENBLAS_CORETYPE=\(environment[BLASStartup.coretypeVariable] ?? ""), \(source.rawValue)"
        return [
            "cpu:     \(model); features \(CPU.features.joined(separator: " "))",
            "blas:    \(BLAS.buildConfiguration); core \(BLAS.coreName) (\(setting))",
            "kernels: element-wise path \(KernelPath.current.rawValue) (best on this CPU: \(KernelPath.best.rawValue))",
        ]
    }
}
