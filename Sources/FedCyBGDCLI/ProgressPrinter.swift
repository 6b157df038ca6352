import Corpus
import Federation
import Foundation
import GPT

/// Prints one line per round and the final summary, on rank 0.
final class ProgressPrinter: FederationObserver {
    private let blockNames: [String]

    init(layout: ParameterLayout) {
        blockNames = layout.blocks.map(\.name)
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func runStarted(settings: FederationSettings, corpus: FederatedCorpus, ranks: Int, evalLoss: Float, resumedAfterRound: Int?) {
        for notice in corpus.notices { Self.say("note: \(notice)") }
        let model = settings.model
        let parameters = ParameterLayout(config: model).parameterCount
        Self.say("fedcybgd: \(ranks) rank\(ranks == 1 ? "" : "s"), \(corpus.clients.count) clients, "
            + "model \(model.layers) layers × \(model.embedDim) wide (\(parameters) parameters, \(blockNames.count) blocks), "
            + "\(settings.rounds) rounds of k=\(settings.clientsPerRound) × E=\(settings.localSteps) steps, "
            + "batch \(settings.batch)×\(settings.sequence)")
        let when = resumedAfterRound.map { "at the last evaluation before round \($0 + 1) (resumed)" } ?? "before the first round"
        Self.say("eval loss \(format(evalLoss)) on \(corpus.validation.count) held-out tokens \(when)")
    }

    func roundFinished(_ record: RoundRecord, totalRounds: Int, etaSeconds: Double) {
        let width = String(totalRounds).count
        let round = String(record.round).leftPadded(to: width)
        let eval = record.evalLoss.isNaN ? "      " : format(record.evalLoss)
        let block = (record.block >= 0 ? blockNames[record.block] : "all").padding(toLength: 10, withPad: " ", startingAt: 0)
        let clients = record.clients.map(String.init).joined(separator: ",")
        Self.say("round \(round)/\(totalRounds)  cycle \(record.cycle)  block \(block) clients \(clients)  "
            + "train \(format(record.trainLoss))  eval \(eval)  down \(bytes(record.bytesDown))  up \(bytes(record.bytesUp))  "
            + "\(String(format: "%.2f", record.seconds))s  ETA \(duration(etaSeconds))")
    }

    func runFinished(_ summary: RunSummary, rejections: Int) {
        Self.say("done: \(summary.rounds) rounds in \(duration(summary.wallSeconds)); eval loss \(format(summary.initialEvalLoss)) → "
            + "\(format(summary.finalEvalLoss)) nats/byte; \(summary.tokensTrained) tokens trained")
        Self.say("bytes: down \(bytes(summary.totalBytesDown)) charged to clients (\(bytes(summary.totalBytesDown / max(summary.clients, 1))) down per client), "
            + "up \(bytes(summary.totalBytesUp)), broadcast \(bytes(summary.totalBytesBroadcast)); rejected uploads \(rejections)")
        Self.say("server CPU \(String(format: "%.1f", summary.serverCPUSeconds))s of \(String(format: "%.1f", summary.wallSeconds))s wall "
            + "(\(String(format: "%.0f", 100 * summary.serverCPUSeconds / max(summary.wallSeconds, 1e-9)))%); "
            + "peak RSS of rank 0 \(bytes(ProcessMetrics.peakResidentBytes()))")
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
