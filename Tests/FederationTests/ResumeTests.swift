import Federation
import GPT
import SystemMetrics
import XCTest

/// A run stopped on request and resumed from its checkpoint must equal the uninterrupted run.
final class ResumeTests: XCTestCase {
    /// The resume path the command line takes, through the store's port alone: the newest
    /// checkpoint, its contents, the history cut back once, then the rounds after it.
    func testResumeThroughTheStorePortEqualsTheUninterruptedRun() throws {
        let settings = TinyRun.settings(rounds: 8, clientsPerRound: 2, checkpointEvery: 3)
        let corpus = try TinyRun.corpus()
        let whole = TinyRun.initial(settings)
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: whole, transport: LocalTransport(),
                         store: MemoryRunStore(), jobText: "job", observer: nil, probe: SystemProcessProbe())

        let store = MemoryRunStore()
        var rounds = 0
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: TinyRun.initial(settings), transport: LocalTransport(),
                         store: store, jobText: "job", observer: nil, probe: SystemProcessProbe(),
                         stopRequested: { rounds += 1; return rounds == 4 })
        let checkpoint = try XCTUnwrap(store.latestCheckpoint(passedOver: { _, _ in XCTFail("nothing to pass over") }))
        XCTAssertEqual(checkpoint.jobText, "job")
        let contents = try store.load(checkpoint, layout: whole.layout)
        XCTAssertEqual(contents.state.round, 4)
        try store.resume(jobText: "job", layout: whole.layout, round: contents.state.round, note: "resumed at 4")
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: contents.parameters, transport: LocalTransport(),
                         store: store, jobText: "job", observer: nil, probe: SystemProcessProbe(), resuming: contents.state)

        XCTAssertEqual(store.records.map(\.round), Array(1...8), "each round once: the history was cut back once, not twice")
        XCTAssertEqual(store.resumeNotes, ["resumed at 4"])
        XCTAssertEqual(zip(whole.storage, contents.parameters.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0)
        let wrongShape = ParameterLayout(config: GPTConfig(vocabSize: 16, contextLength: 8, embedDim: 4, layers: 1, heads: 2))
        XCTAssertThrowsError(try store.load(checkpoint, layout: wrongShape))
    }

    func testStoppedAndResumedRunEqualsTheUninterruptedRunBitForBit() throws {
        let settings = TinyRun.settings(rounds: 10, clientsPerRound: 2, checkpointEvery: 3)
        let corpus = try TinyRun.corpus()

        let whole = TinyRun.initial(settings)
        let wholeStore = MemoryRunStore()
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: whole, transport: LocalTransport(),
                         store: wholeStore, jobText: "", observer: nil, probe: SystemProcessProbe())

        var roundsSeen = 0
        let firstStore = MemoryRunStore()
        let stopped = try XCTUnwrap(FedCyBGD.run(
            settings: settings, corpus: corpus, initial: TinyRun.initial(settings), transport: LocalTransport(),
            store: firstStore, jobText: "", observer: nil, probe: SystemProcessProbe(), stopRequested: { roundsSeen += 1; return roundsSeen == 5 }))
        XCTAssertTrue(stopped.interrupted)
        XCTAssertEqual(stopped.rounds, 5)
        let checkpoint = try XCTUnwrap(firstStore.checkpoints.last)
        XCTAssertEqual(checkpoint.state.round, 5)
        XCTAssertNil(firstStore.summary, "an interrupted run has no final summary")

        let restored = ParameterBuffer(layout: whole.layout)
        checkpoint.parameters.withUnsafeBufferPointer { _ = restored.storage.update(fromContentsOf: $0) }
        let resumedStore = MemoryRunStore()
        let resumed = try XCTUnwrap(FedCyBGD.run(
            settings: settings, corpus: corpus, initial: restored, transport: LocalTransport(), store: resumedStore,
            jobText: "", observer: nil, probe: SystemProcessProbe(), resuming: checkpoint.state))

        XCTAssertEqual(zip(whole.storage, restored.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0)
        XCTAssertEqual(resumedStore.records.map(\.round), Array(6...10))
        let expected = wholeStore.records.suffix(5)
        XCTAssertEqual(resumedStore.records.map(\.trainLoss.bitPattern), expected.map(\.trainLoss.bitPattern))
        XCTAssertEqual(resumedStore.records.map(\.bytesDown), expected.map(\.bytesDown))
        XCTAssertEqual(resumedStore.records.map(\.updateNorm.bitPattern), expected.map(\.updateNorm.bitPattern))
        let summary = try XCTUnwrap(wholeStore.summary)
        XCTAssertEqual(resumed.finalEvalLoss.bitPattern, summary.finalEvalLoss.bitPattern)
        XCTAssertEqual(resumed.initialEvalLoss.bitPattern, summary.initialEvalLoss.bitPattern)
        XCTAssertEqual(resumed.totalBytesDown, summary.totalBytesDown)
        XCTAssertEqual(resumed.tokensTrained, summary.tokensTrained)
        XCTAssertEqual(wholeStore.checkpoints.last?.state, resumedStore.checkpoints.last?.state.with(broadcastFrom: wholeStore))
    }
}

private extension RunState {
    /// The resumed run re-sends the whole model once, so its broadcast total legitimately differs.
    func with(broadcastFrom store: MemoryRunStore) -> RunState {
        var copy = self
        copy.totals.bytesBroadcast = store.checkpoints.last?.state.totals.bytesBroadcast ?? copy.totals.bytesBroadcast
        return copy
    }
}
