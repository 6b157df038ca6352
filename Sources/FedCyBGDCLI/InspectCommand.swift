import ArgumentParser
import Federation
import Foundation
import GPT
import HDF5Store

/// `fedcybgd inspect runs/<name>`: what a run folder holds, without opening Python.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a run folder: its job, checkpoints, last round, best eval loss, totals and block visits.")

    @Argument(help: "The run folder, e.g. runs/demo.")
    var runFolder: String

    @Flag(help: "Also print the job as it was last run.")
    var job = false

    func run() throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: runFolder, isDirectory: &isFolder) else {
            throw CLIError("\(runFolder): no such folder; give the folder of a run (runs/<name>)")
        }
        guard isFolder.boolValue else {
            throw CLIError("\(runFolder) is a file, not a run folder; give the folder of a run (runs/<name>)")
        }
        // A reader never waits for, nor stops, the run writing the folder: HDF5's own file lock is
        // left off (unless the environment sets it), and a read that meets an append half-done is retried.
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0)
        // The newest checkpoint holds the job as last run (a resume may have changed train.rounds);
        // history.h5 keeps the job the run started with.
        let newest = (try? CheckpointChoice.newest(in: runFolder, warn: false)) ?? nil
        let history = (runFolder as NSString).appendingPathComponent("history.h5")
        let read: (records: [RoundRecord], jobText: String, summary: RunSummary?)
        do {
            guard FileManager.default.fileExists(atPath: history) else {
                throw CLIError("\(runFolder): no history.h5 here; give the folder of a run (runs/<name>)")
            }
            read = try Self.retryingTornReads { try Self.readHistory(history, newest: newest) }
        } catch {
            // Not damage: a history this user may not read is reported as such (FileAccess).
            guard !"\(error)".contains("permission denied"),
                  let fallback = try Self.readHistoryCopy(of: newest, because: error) else { throw error }
            read = fallback
        }
        let (records, jobText, summary) = read
        let tasks = (try? HDF5RunReader.readTasks(history)) ?? []
        let validationTokens = (try? HDF5RunReader.readValidationTokens(history)) ?? []
        let parsed = try? JobFile.parse(text: jobText, path: history)
        say("run \(runFolder)")
        if job { say(jobText.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
        try describeCheckpoints()
        describeHistory(records, rounds: parsed?.totalRounds)
        describeInstructionMetrics(records, tasks: tasks, validationTokens: validationTokens)
        if let summary {
            say("finished: \(summary.rounds) rounds, eval loss \(String(format: "%.4f", summary.initialEvalLoss)) → \(String(format: "%.4f", summary.finalEvalLoss)), "
                + "bytes down \(bytes(summary.totalBytesDown)), up \(bytes(summary.totalBytesUp)), broadcast \(bytes(summary.totalBytesBroadcast)), "
                + "\(summary.tokensTrained) tokens, \(String(format: "%.1f", summary.wallSeconds)) s")
            say("  bytes per client (down + up) \(megabytes(Int(summary.bytesPerClientMean.rounded()))) mean, "
                + "\(megabytes(summary.bytesPerClientMax)) max; peak RSS client ranks \(megabytes(summary.peakClientRSS)), "
                + "server \(megabytes(summary.peakServerRSS))")
            if let share = ProgressPrinter.computeShare(summary) { say("  " + share) }
            if !summary.testLoss.isNaN {
                say("  test split (final model, once): loss \(String(format: "%.4f", summary.testLoss)), exact match \(Self.percent(summary.testExactMatch)), "
                    + "F1 \(Self.percent(summary.testF1)); per task in history.h5 /test")
            }
        } else {
            say("not finished (no /summary yet): running, stopped, or killed; 'fedcybgd resume \(runFolder)' continues it")
        }
        describeVisits(records, config: newest.flatMap { try? HDF5RunReader.modelConfig($0) } ?? parsed.map { $0.freshModelConfig(tokenizerSize: 256) })
    }

    private func say(_ line: String) { ProgressPrinter.say(line) }

    /// The rows, the job and the summary of a history.h5 (the job from `newest` when it can).
    private static func readHistory(_ history: String, newest: String?) throws -> ([RoundRecord], String, RunSummary?) {
        let records = try HDF5RunReader.readHistory(history)
        let jobText = try newest.flatMap { try? CheckpointChoice.jobText(of: $0) } ?? HDF5RunReader.readHistoryJob(history)
        return (records, jobText, try HDF5RunReader.readSummary(history))
    }

    /// When history.h5 is missing or cannot be read: the same from the copy of it in the newest
    /// verified checkpoint (as `resume` would restore it), said in one line; nil without one.
    /// The copy is read from a temporary file, so the run folder is not written.
    private static func readHistoryCopy(of checkpoint: String?, because failure: Error) throws -> ([RoundRecord], String, RunSummary?)? {
        guard let checkpoint, let bytes = HDF5RunReader.historyCopy(in: checkpoint) else { return nil }
        let temporary = (NSTemporaryDirectory() as NSString).appendingPathComponent("fedcybgd-inspect-\(getpid())-history.h5")
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        let read = try readHistory(temporary, newest: checkpoint)
        let why = (failure as? HDF5Error)?.kind == .missing || failure is CLIError ? "is missing" : "cannot be read (\(failure))"
        ProgressPrinter.say("note: history.h5 \(why); reporting from the copy in \(checkpoint) (rows up to round \(read.0.last?.round ?? 0)); 'fedcybgd resume' restores history.h5 from it")
        return read
    }

    /// Runs `read` again (up to 10 times, 0.1 s apart) when it fails the way a read that meets
    /// the run's append half-done fails; a missing or unreadable file fails at once.
    static func retryingTornReads<T>(_ read: () throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                return try read()
            } catch let error as HDF5Error where error.kind != .missing && !error.message.contains("permission denied") && attempt < 10 {
                attempt += 1
                usleep(100_000)
            }
        }
    }

    private func describeCheckpoints() throws {
        let checkpoints = try HDF5RunReader.checkpoints(in: runFolder)
        say("checkpoints: \(checkpoints.isEmpty ? "none" : "")")
        for checkpoint in checkpoints {
            let size = (try? FileManager.default.attributesOfItem(atPath: checkpoint.path)[.size] as? Int) ?? 0
            let status = !HDF5RunReader.isComplete(checkpoint.path) ? "INCOMPLETE (passed over by --resume)"
                : HDF5RunReader.verificationFailure(checkpoint.path) == nil ? "complete, checksums match"
                : "DAMAGED: fails its checksums (passed over by --resume)"
            say("  round \(checkpoint.round)  \(bytes(size))  \(status)  \(checkpoint.path)")
        }
    }

    private func describeHistory(_ records: [RoundRecord], rounds: Int?) {
        guard let last = records.last else { return say("history: no rounds yet") }
        say("history: \(records.count) rounds, last round \(last.round)\(rounds.map { " of \($0)" } ?? ""), cycle \(last.cycle)")
        let evaluated = records.filter { !$0.evalLoss.isNaN }
        if let best = evaluated.min(by: { $0.evalLoss < $1.evalLoss }) {
            say("best eval loss \(String(format: "%.4f", best.evalLoss)) at round \(best.round); last \(String(format: "%.4f", evaluated.last!.evalLoss))")
        }
        let down = records.reduce(0) { $0 + $1.bytesDown }, up = records.reduce(0) { $0 + $1.bytesUp }
        let rejected = records.reduce(0) { $0 + $1.rejectedUploads }
        say("totals so far: bytes down \(bytes(down)), up \(bytes(up)); rejected uploads \(rejected)")
        var times = RankTimeTotals()
        for record in records { times.add(record) }
        if let split = times.description { say("time over the rounds: \(split)") }
    }

    /// Instruction data: the last evaluation's exact match and F1, and its per-task table.
    private func describeInstructionMetrics(_ records: [RoundRecord], tasks: [String], validationTokens: [Int]) {
        guard let last = records.last(where: { !$0.evalTaskLoss.isEmpty || !$0.evalExactMatch.isNaN }) else { return }
        say("answers at round \(last.round) (greedy, validation prompts): exact match \(Self.percent(last.evalExactMatch)), F1 \(Self.percent(last.evalF1))")
        for line in Self.taskTable(last, tasks: tasks, validationTokens: validationTokens) { say(line) }
    }

    /// The per-task rows of `record`: loss, exact match and F1, or, for a task the evaluation
    /// batches hold no validation target of (`validationTokens` 0), that it has none.
    static func taskTable(_ record: RoundRecord, tasks: [String], validationTokens: [Int]) -> [String] {
        guard !tasks.isEmpty else { return [] }
        let width = max(4, tasks.map(\.count).max() ?? 4)
        var lines = ["  " + "task".padding(toLength: width, withPad: " ", startingAt: 0) + "      loss  exact      F1"]
        for (index, task) in tasks.enumerated() {
            func value(_ values: [Float]) -> Float { index < values.count ? values[index] : .nan }
            let name = "  " + task.padding(toLength: width, withPad: " ", startingAt: 0)
            if index < validationTokens.count, validationTokens[index] == 0 {
                lines.append(name + "  no validation records evaluated")
                continue
            }
            lines.append(name + String(format: "  %8.4f", value(record.evalTaskLoss)) + "  " + percent(value(record.evalTaskExactMatch)).leftPadded(5)
                + "  " + percent(value(record.evalTaskF1)).leftPadded(6))
        }
        return lines
    }

    private static func percent(_ value: Float) -> String {
        value.isNaN ? "-" : String(format: "%.1f%%", Double(value) * 100)
    }

    /// Visits per block, named by `config`'s layout (the newest checkpoint's model, else the job's).
    private func describeVisits(_ records: [RoundRecord], config: GPTConfig?) {
        guard !records.isEmpty else { return }
        let names = config.map { ParameterLayout(config: $0).blocks.map(\.name) }
        var visits: [Int: Int] = [:]
        var others = 0
        for record in records {
            if let block = record.target.block { visits[block, default: 0] += 1 } else { others += 1 }
        }
        var line = visits.keys.sorted().map { block in
            "\(names.flatMap { block < $0.count ? $0[block] : nil } ?? "block \(block)"): \(visits[block]!)"
        }
        if others > 0 { line.insert("every block: \(others)", at: 0) }
        say("visits per block: " + line.joined(separator: ", "))
    }
}

extension String {
    /// The text right-aligned in `width` columns.
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
