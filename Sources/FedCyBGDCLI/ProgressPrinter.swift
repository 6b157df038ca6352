import Corpus
import Federation
import Foundation
import GPT

/// Prints one line per round and the final summary, on rank 0.
final class ProgressPrinter: FederationObserver {
    private let blockNames: [String]
    /// The run's tokenizer's (`TextTokenizer.lossUnit`).
    private let lossUnit: LossUnit
    private var times = RankTimeTotals()

    init(layout: ParameterLayout, lossUnit: LossUnit) {
        blockNames = layout.blocks.map(\.name)
        self.lossUnit = lossUnit
    }

    /// The algorithm and what travels, as the job set them (docs/METHODS.md).
    static func method(_ settings: FederationSettings) -> String {
        var parts = [settings.algorithm.rawValue]
        if settings.algorithm == .fedlora { parts.append("LoRA rank \(settings.lora.rank), alpha \(settings.lora.alpha)") }
        if settings.algorithm.poolsClients { parts.append("one client holding all the training data") }
        parts.append("download \(settings.downloadEncoding) (trained units exact fp32)")
        if settings.layerDrop.fraction > 0 {
            parts.append("dropping \(settings.layerDrop.fraction) of the frozen layers (\(settings.layerDrop.rule.rawValue))")
        }
        parts.append("upload \(settings.uploadEncoding)")
        return parts.joined(separator: ", ")
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func runStarted(settings: FederationSettings, corpus: FederatedCorpus, ranks: Int, evalLoss: Float, resumedAfterRound: Int?) {
        for notice in corpus.notices { Self.say("note: \(notice)") }
        if let note = tiedBlocksNote(settings, clientCount: corpus.clients.count) { Self.say(note) }
        let model = settings.model
        let parameters = ParameterLayout(config: model).parameterCount
        Self.say("fedcybgd: \(ranks) rank\(ranks == 1 ? "" : "s"), \(corpus.clients.count) clients, "
            + "model \(model.layers) layers × \(model.embedDim) wide (\(parameters) parameters, \(blockNames.count) blocks), "
            + "\(settings.rounds) rounds of k=\(settings.clientsPerRound) × E=\(settings.localSteps) steps, "
            + "batch \(settings.batch)×\(settings.sequence)")
        Self.say("method: \(Self.method(settings))")
        let when = resumedAfterRound.map { "at the last evaluation before round \($0 + 1) (resumed)" } ?? "before the first round"
        Self.say("eval loss \(format(evalLoss)) on \(corpus.validationTokenCount) held-out tokens \(when)")
    }

    /// One line when the chosen block order or client selection leaves blocks that never train
    /// with some client over the run, where the default schedule would give them every client.
    func tiedBlocksNote(_ settings: FederationSettings, clientCount: Int) -> String? {
        let tied = CycleSchedule(settings: settings, clientCount: clientCount).blocksTiedToClients(rounds: settings.rounds)
        guard !tied.isEmpty else { return nil }
        return "note: with train.block_order = \"\(settings.blockOrder.rawValue)\" and train.client_selection = "
            + "\"\(settings.clientSelection.rawValue)\", \(tied.map { blockNames[$0] }.joined(separator: ", ")) never "
            + "train\(tied.count == 1 ? "s" : "") with some of the \(clientCount) clients in \(settings.rounds) rounds, where the default "
            + "order and selection (ascending, cyclic) give every block every client; use those, or more rounds"
    }

    func roundFinished(_ record: RoundRecord, totalRounds: Int, etaSeconds: Double) {
        times.add(record)
        let width = String(totalRounds).count
        let round = String(record.round).leftPadded(to: width)
        let eval = record.evalLoss.isNaN ? "      " : format(record.evalLoss)
        let name = record.target.shard.map { "emb.\($0)" } ?? record.target.block.map { blockNames[$0] } ?? "all"
        let block = name.padding(toLength: 10, withPad: " ", startingAt: 0)
        let clients = record.clients.map(String.init).joined(separator: ",")
        Self.say("round \(round)/\(totalRounds)  cycle \(record.cycle)  block \(block) clients \(clients)  "
            + "train \(format(record.trainLoss))  eval \(eval)  down \(bytes(record.bytesDown))  up \(bytes(record.bytesUp))  "
            + "\(String(format: "%.2f", record.seconds))s  ETA \(duration(etaSeconds))")
    }

    func runFinished(_ summary: RunSummary, rejections: Int) {
        for line in Self.summaryLines(summary, rejections: rejections, times: times, lossUnit: lossUnit) { Self.say(line) }
    }

    /// The end-of-run block: totals, bytes per client, peak memory and where the ranks' time went.
    static func summaryLines(_ summary: RunSummary, rejections: Int, times: RankTimeTotals,
                             lossUnit: LossUnit) -> [String] {
        let loss = { (value: Float) in value.isNaN ? "nan" : String(format: "%.3f", value) }
        var lines = [
            "done: \(summary.rounds) rounds in \(duration(summary.wallSeconds)); eval loss \(loss(summary.initialEvalLoss)) → "
                + "\(loss(summary.finalEvalLoss)) \(lossUnit.rawValue); \(summary.tokensTrained) tokens trained",
            "  bytes       down \(megabytes(summary.totalBytesDown)) charged to clients, up \(megabytes(summary.totalBytesUp)), "
                + "broadcast \(megabytes(summary.totalBytesBroadcast)); rejected uploads \(rejections)",
            "  per client  \(megabytes(Int(summary.bytesPerClientMean.rounded()))) mean, \(megabytes(summary.bytesPerClientMax)) max "
                + "(down + up, over the clients that took part)",
            "  peak RSS    client ranks \(megabytes(summary.peakClientRSS)), server \(megabytes(summary.peakServerRSS))",
        ]
        if let split = times.description { lines.append("  time        " + split) }
        if let share = computeShare(summary) { lines.append("  compute     " + share) }
        lines.append("  server CPU  \(seconds(summary.serverCPUSeconds)) of \(seconds(summary.wallSeconds)) wall "
            + "(\(String(format: "%.0f", 100 * summary.serverCPUSeconds / max(summary.wallSeconds, 1e-9)))%)")
        return lines
    }

    /// "client ranks computed 71.3% of the wall time (client_compute_fraction 0.713)", or nil when not measured.
    static func computeShare(_ summary: RunSummary) -> String? {
        let fraction = summary.clientComputeFraction
        guard fraction >= 0, fraction.isFinite else { return nil }
        return "client ranks computed \(String(format: "%.1f", 100 * fraction))% of the wall time "
            + "(client_compute_fraction \(String(format: "%.3f", fraction)))"
    }

    private func format(_ loss: Float) -> String { loss.isNaN ? "   nan" : String(format: "%6.3f", loss) }
}

func bytes(_ count: Int) -> String {
    let value = Double(count)
    if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
    if value >= 1e6 { return String(format: "%.2f MB", value / 1e6) }
    if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
    return "\(count) B"
}

func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let whole = Int(seconds.rounded())
    return whole >= 60 ? "\(whole / 60)m\(String(format: "%02d", whole % 60))s" : "\(whole)s"
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// Bytes in MB with two decimals, as the end-of-run summary prints them; "n/a" when not measured.
func megabytes(_ count: Int) -> String {
    count < 0 ? "n/a" : String(format: "%.2f MB", Double(count) / 1e6)
}

func seconds(_ value: Double) -> String {
    value.isFinite ? String(format: "%.2f s", value) : "n/a"
}

/// Per-rank sums of the round time split, over the rounds this process saw.
struct RankTimeTotals {
    private var sums: [RankTimes] = []

    mutating func add(_ record: RoundRecord) {
        let ranks = min(record.rankComputeSeconds.count, record.rankCommSeconds.count, record.rankWaitSeconds.count)
        while sums.count < ranks { sums.append(RankTimes(compute: 0, communication: 0, waiting: 0)) }
        for rank in 0..<ranks where !record.rankComputeSeconds[rank].isNaN {
            sums[rank].compute += record.rankComputeSeconds[rank]
            sums[rank].communication += record.rankCommSeconds[rank]
            sums[rank].waiting += record.rankWaitSeconds[rank]
        }
    }

    var server: RankTimes? { sums.first }

    /// "server compute 1.20 s, comm ...; client ranks (mean) compute ...", or nil before any round.
    var description: String? {
        guard let server else { return nil }
        let part = { (times: RankTimes) in
            "compute \(seconds(times.compute)), comm \(seconds(times.communication)), wait \(seconds(times.waiting))"
        }
        return "server " + part(server) + (clientMean.map { "; client ranks (mean) " + part($0) } ?? "")
    }

    /// The mean over ranks 1..P-1, or nil in a one-rank job.
    var clientMean: RankTimes? {
        guard sums.count > 1 else { return nil }
        let clients = sums.dropFirst()
        let n = Double(clients.count)
        return RankTimes(compute: clients.reduce(0) { $0 + $1.compute } / n,
                         communication: clients.reduce(0) { $0 + $1.communication } / n,
                         waiting: clients.reduce(0) { $0 + $1.waiting } / n)
    }
}
