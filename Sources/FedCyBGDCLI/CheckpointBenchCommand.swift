import ArgumentParser
import Federation
import Foundation
import GPT
import HDF5Store
import SystemMetrics

/// `fedcybgd bench-checkpoint`: checkpoint write and load speed against the disk's plain
/// sequential write speed, measured in the same run.
struct CheckpointBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-checkpoint",
        abstract: "Time writing and loading a checkpoint (GPT-2 small by default) against a plain fsync'd write and dd.")

    @Option(help: "Folder to write in (on the disk to measure).") var folder = "runs/.bench-checkpoint"
    @Option(help: "Transformer layers.") var layers = 12
    @Option(help: "Embedding width.") var width = 768
    @Option(help: "Attention heads.") var heads = 12
    @Option(help: "Vocabulary size.") var vocab = 50257
    @Option(help: "Context length.") var context = 1024
    @Option(help: "Repetitions; medians are reported.") var repeats = 3

    func run() throws {
        let layout = ParameterLayout(config: GPTConfig(vocabSize: vocab, contextLength: context, embedDim: width,
                                                       layers: layers, heads: heads))
        let parameters = ParameterBuffer.initialized(layout: layout, seed: 1)
        let byteCount = layout.parameterCount * 4
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        ProgressPrinter.say("checkpoint of \(layout.parameterCount) parameters (\(bytes(byteCount)) of float32) in \(folder), \(repeats) repeats")

        var plain: [Double] = [], dd: [Double] = [], write: [Double] = [], load: [Double] = []
        for repeatIndex in 0..<repeats {
            plain.append(try Self.timed { try PlainWrite.write(bytes: parameters.storage, to: "\(folder)/plain.bin") })
            dd.append(try Self.timed { try PlainWrite.dd(bytes: byteCount, to: "\(folder)/dd.bin") })
            let store = try HDF5RunStore(folder: folder, keepCheckpoints: 1)
            let state = RunState(schedule: .init(round: repeatIndex + 1, cycle: 1, blockOrder: []), totals: RunTotals(),
                                 downloads: .init(changedRound: [], clientVersions: [], clientExact: []))
            write.append(try Self.timed { try store.saveCheckpoint(parameters: parameters, state: state) })
            let path = store.checkpointPath(round: repeatIndex + 1)
            Self.dropCache(path)
            load.append(try Self.timed { _ = try HDF5RunReader.loadCheckpoint(path, layout: layout) })
        }
        let mb = Double(byteCount) / 1e6
        func line(_ name: String, _ times: [Double]) -> String {
            let median = times.sorted()[times.count / 2]
            return "  \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) median \(String(format: "%6.3f", median)) s  \(String(format: "%7.1f", mb / median)) MB/s"
        }
        ProgressPrinter.say(line("plain write + fsync (same bytes)", plain))
        ProgressPrinter.say(line("dd bs=16M conv=fsync (same bytes)", dd))
        ProgressPrinter.say(line("checkpoint write (tmp, fsync, rename)", write))
        ProgressPrinter.say(line("checkpoint load (page cache dropped)", load))
        let ratio = plain.sorted()[plain.count / 2] / write.sorted()[write.count / 2]
        let ddRatio = dd.sorted()[dd.count / 2] / write.sorted()[write.count / 2]
        ProgressPrinter.say("checkpoint write speed = \(String(format: "%.0f", 100 * ratio))% of the plain write, \(String(format: "%.0f", 100 * ddRatio))% of dd")
    }

    static func timed(_ work: () throws -> Void) throws -> Double {
        let start = ProcessMetrics.now()
        try work()
        return ProcessMetrics.now() - start
    }

    /// Asks the kernel to forget the file's cached pages, so a load reads the disk.
    static func dropCache(_ path: String) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return }
        _ = posix_fadvise(descriptor, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(descriptor)
    }
}

/// The baseline: the same bytes written sequentially and fsync'd, with no HDF5 in between.
enum PlainWrite {
    static func write(bytes: UnsafeMutableBufferPointer<Float>, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor); unlink(path) }
        let raw = UnsafeRawBufferPointer(bytes)
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(descriptor, raw.baseAddress! + offset, min(1 << 24, raw.count - offset))
            guard written > 0 else { throw CLIError("writing \(path) failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
        guard fsync(descriptor) == 0 else { throw CLIError("fsync of \(path) failed") }
    }

    static func dd(bytes: Int, to path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/dd")
        process.arguments = ["if=/dev/zero", "of=\(path)", "bs=16M", "count=\((bytes + (1 << 24) - 1) >> 24)", "conv=fsync", "status=none"]
        try process.run()
        process.waitUntilExit()
        unlink(path)
        guard process.terminationStatus == 0 else { throw CLIError("dd failed with status \(process.terminationStatus)") }
    }
}
