import Corpus
@testable import Federation
import GPT
import Kernels
import SystemMetrics
import XCTest

/// Rank 0 evaluates the model after a cycle-ending round while the next round's clients train:
/// the broadcast of round r + 1 goes out before round r is recorded, and the losses are the same
/// numbers as when every evaluation runs before the next broadcast.
final class EvaluationOverlapTests: XCTestCase {
    func testTheNextRoundIsBroadcastBeforeTheEvaluatedRoundIsRecorded() throws {
        let settings = TinyRun.settings(rounds: 8) // 4 blocks: rounds 4 and 8 end a cycle
        let log = EventLog()
        let summary = try XCTUnwrap(FedCyBGD.run(
            settings: settings, corpus: try TinyRun.corpus(), initial: TinyRun.initial(settings),
            transport: LoggingTransport(log: log), store: MemoryRunStore(), jobText: "", observer: log, probe: SystemProcessProbe()))
        XCTAssertEqual(log.events, ["broadcast 1", "started", "finished 1", "broadcast 2", "finished 2",
                                    "broadcast 3", "finished 3", "broadcast 4", "broadcast 5", "finished 4",
                                    "finished 5", "broadcast 6", "finished 6", "broadcast 7", "finished 7",
                                    "broadcast 8", "finished 8", "broadcast 9", "summary"])
        XCTAssertEqual(log.evaluated, [4, 8])
        XCTAssertFalse(summary.initialEvalLoss.isNaN)
    }

    func testEvaluatingDuringTheNextRoundGivesTheSameLossesAsEvaluatingAtOnce() throws {
        let previousThreads = BLAS.threads
        BLAS.setThreads(1)
        defer { BLAS.setThreads(previousThreads) }
        let corpus = try TinyRun.corpus()
        // A checkpoint after every round makes every evaluation run before the next broadcast.
        let atOnce = MemoryRunStore()
        try FedCyBGD.run(settings: TinyRun.settings(rounds: 8, clientsPerRound: 2, checkpointEvery: 1), corpus: corpus,
                         initial: TinyRun.initial(TinyRun.settings()), transport: LocalTransport(), store: atOnce,
                         jobText: "", observer: nil, probe: SystemProcessProbe())
        let settings = TinyRun.settings(rounds: 8, clientsPerRound: 2)
        let overlapped = MemoryRunStore()
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: TinyRun.initial(settings),
                         transport: LocalTransport(), store: overlapped, jobText: "", observer: nil, probe: SystemProcessProbe())
        let (threaded, _) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus)
        let expected = atOnce.records.map(\.evalLoss.bitPattern)
        XCTAssertEqual(atOnce.records.filter { !$0.evalLoss.isNaN }.map(\.round), [4, 8])
        XCTAssertEqual(overlapped.records.map(\.evalLoss.bitPattern), expected)
        XCTAssertEqual(threaded.records.map(\.evalLoss.bitPattern), expected)
        for store in [overlapped, threaded] {
            let summary = try XCTUnwrap(store.summary)
            XCTAssertEqual(summary.initialEvalLoss.bitPattern, atOnce.summary?.initialEvalLoss.bitPattern)
            XCTAssertEqual(summary.finalEvalLoss.bitPattern, atOnce.summary?.finalEvalLoss.bitPattern)
        }
    }

    func testClientComputeShareDividesTheClientRanksComputeByRanksTimesWall() {
        var record = RoundRecord(round: 1, cycle: 1, target: .block(0), clients: [0, 1], trainLoss: 1, evalLoss: .nan,
                                 bytesDown: 0, bytesUp: 0, bytesBroadcast: 0, rejectedUploads: 0, lossBefore: 1,
                                 lossAfter: 1, updateNorm: 0, seconds: 4, serverCPUSeconds: 0)
        record.rankComputeSeconds = [0.5, 3, 2, .nan]
        var share = ClientComputeShare(ranks: 4)
        XCTAssertEqual(share.fraction(wallSeconds: 10), -1, "no round yet")
        share.add(record)
        share.add(record)
        // Ranks 1..3 computed 3 + 2 (+ nothing measured) per round, twice; rank 0 is the server.
        XCTAssertEqual(share.fraction(wallSeconds: 10), 10 / (3 * 10), accuracy: 1e-15)
        var alone = ClientComputeShare(ranks: 1)
        alone.add(record)
        XCTAssertEqual(alone.fraction(wallSeconds: 2), 0.25, accuracy: 1e-15, "at P = 1, rank 0 hosts the clients")
    }
}

/// Records the order of broadcasts and observer calls in a one-rank run.
private final class EventLog: FederationObserver {
    var events: [String] = []
    var evaluated: [Int] = []
    private var broadcasts = 0

    func broadcast() { broadcasts += 1; events.append("broadcast \(broadcasts)") }
    func runStarted(settings: FederationSettings, corpus: FederatedCorpus, ranks: Int, evalLoss: Float, resumedAfterRound: Int?) {
        events.append("started")
    }
    func roundFinished(_ record: RoundRecord, totalRounds: Int, etaSeconds: Double) {
        events.append("finished \(record.round)")
        if !record.evalLoss.isNaN { evaluated.append(record.round) }
    }
    func runFinished(_ summary: RunSummary, rejections: Int) { events.append("summary") }
}

private final class LoggingTransport: Transport {
    let inner = LocalTransport()
    let log: EventLog
    init(log: EventLog) { self.log = log }
    var rank: Int { inner.rank }
    var size: Int { inner.size }
    func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        log.broadcast()
        try inner.broadcast(&bytes, root: root)
    }
    func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try inner.send(bytes, to: destination, tag: tag)
    }
    func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        try inner.receive(from: source, tag: tag, maxBytes: maxBytes)
    }
    func barrier() throws { try inner.barrier() }
}
