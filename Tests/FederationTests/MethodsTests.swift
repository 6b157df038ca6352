import Corpus
import Federation
import GPT
import Kernels
import SystemMetrics
import XCTest

/// The algorithms beside FedCyBGD (fedavg, centralized, badam), the download and upload codecs
/// and layer dropping, run through the same engine.
final class MethodsTests: XCTestCase {
    /// Bit-for-bit comparisons need one BLAS thread: a threaded sgemm may sum in another order.
    override func setUp() {
        previousThreads = BLAS.threads
        BLAS.setThreads(1)
    }

    override func tearDown() { BLAS.setThreads(previousThreads) }

    private var previousThreads = 1

    private func settings(_ algorithm: Algorithm, rounds: Int = 4, k: Int = 2) -> FederationSettings {
        var s = TinyRun.settings(rounds: rounds, clientsPerRound: k)
        s.algorithm = algorithm
        return s
    }

    func testFedAvgRoundIsTheSampleWeightedMeanOfFullModelTraining() throws {
        let s = settings(.fedavg, rounds: 1)
        let corpus = try TinyRun.corpus()
        let start = TinyRun.initial(s)
        let (store, final) = try TinyRun.runThreaded(ranks: 3, settings: s, corpus: corpus)
        let record = try XCTUnwrap(store.records.first)
        XCTAssertEqual(record.target, .allBlocks)
        XCTAssertEqual(record.clients, [0, 1])

        // Replay the two clients by hand: each trains every parameter from the start model.
        var trained: [[Float]] = []
        for client in record.clients {
            let model = FederatedModel(parameters: start.copy())
            let plan = CycleSchedule(settings: s, clientCount: corpus.clients.count).plan(round: 1)
            XCTAssertEqual(plan.learningRate, s.learningRate(round: 1))
            _ = LocalTraining.run(model: model, plan: plan, shard: corpus.clients[client], settings: s)
            trained.append(Array(model.parameters.storage))
        }
        let weights = record.clients.map { Double(corpus.clients[$0].sampleCount) }
        let total = weights.reduce(0, +)
        var worst: Float = 0
        for i in 0..<final.storage.count {
            let mean = Float(weights[0] / total * Double(trained[0][i]) + weights[1] / total * Double(trained[1][i]))
            worst = max(worst, abs(mean - final.storage[i]))
        }
        XCTAssertEqual(worst, 0, "the server's mean equals the hand-computed one")
        XCTAssertGreaterThan(zip(start.storage, final.storage).filter { $0 != $1 }.count, final.storage.count / 2,
                             "fedavg changes (nearly) every parameter")
        // Each client uploads the whole model; new clients download the whole model.
        let fullUpload = final.storage.count * 4 + UploadHeader.encodedSize
        XCTAssertEqual(record.clientBytesUp, [fullUpload, fullUpload])
        let fullDownload = final.layout.blocks.reduce(0) { $0 + $1.range.count * 4 + Download.unitOverhead }
        XCTAssertEqual(record.clientBytesDown, [fullDownload, fullDownload])
    }

    func testCentralizedAndBAdamTrainOneClientHoldingAllTheData() throws {
        let corpus = try TinyRun.corpus()
        for algorithm in [Algorithm.centralized, .badam] {
            let s = settings(algorithm, rounds: 5, k: 3)
            let store = MemoryRunStore()
            let summary = try XCTUnwrap(FedCyBGD.run(settings: s, corpus: corpus, initial: TinyRun.initial(s),
                                                     transport: LocalTransport(), store: store, jobText: "", observer: nil, probe: SystemProcessProbe()))
            XCTAssertEqual(summary.clients, 1, "\(algorithm)")
            XCTAssertTrue(store.records.allSatisfy { $0.clients == [0] }, "\(algorithm)")
            let targets = store.records.map(\.target)
            if algorithm == .badam {
                XCTAssertEqual(targets, [0, 1, 2, 3, 0].map(RoundTarget.block), "badam cycles through the blocks")
            } else {
                XCTAssertTrue(targets.allSatisfy { $0 == .allBlocks })
            }
            XCTAssertLessThan(summary.finalEvalLoss, summary.initialEvalLoss, "\(algorithm)")
        }
    }

    func testCodecsAndLayerDroppingGiveTheSameModelOnOneAndThreeRanks() throws {
        var s = TinyRun.settings(rounds: 8, layers: 3, clientsPerRound: 2)
        s.downloadEncoding = .int8
        s.uploadEncoding = .fp16
        s.layerDrop = LayerDrop(fraction: 0.5, rule: .far)
        let corpus = try TinyRun.corpus()
        let (oneStore, one) = try TinyRun.runThreaded(ranks: 1, settings: s, corpus: corpus)
        let (threeStore, three) = try TinyRun.runThreaded(ranks: 3, settings: s, corpus: corpus)
        XCTAssertEqual(zip(one.storage, three.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0)
        XCTAssertEqual(oneStore.records.map(\.bytesDown), threeStore.records.map(\.bytesDown))
        XCTAssertLessThan(try XCTUnwrap(oneStore.summary).finalEvalLoss, try XCTUnwrap(oneStore.summary).initialEvalLoss)

        // The same run in fp32 sends more; its upload is 4 bytes a value, fp16's 2.
        var exact = s
        exact.downloadEncoding = .fp32
        exact.uploadEncoding = .fp32
        let (exactStore, _) = try TinyRun.runThreaded(ranks: 1, settings: exact, corpus: corpus)
        XCTAssertLessThan(oneStore.records.map(\.bytesBroadcast).reduce(0, +),
                          exactStore.records.map(\.bytesBroadcast).reduce(0, +))
        for (compressed, plain) in zip(oneStore.records, exactStore.records) {
            let values = one.layout.blocks[compressed.target.block!].range.count
            XCTAssertEqual(compressed.clientBytesUp, compressed.clients.map { _ in 2 * values + UploadHeader.encodedSize })
            XCTAssertEqual(plain.clientBytesUp, plain.clients.map { _ in 4 * values + UploadHeader.encodedSize })
        }
    }

    func testResumeWithCodecsAndDroppingEqualsTheUninterruptedRun() throws {
        var s = TinyRun.settings(rounds: 9, layers: 3, clientsPerRound: 2, checkpointEvery: 2)
        s.downloadEncoding = .prune(density: 0.5)
        s.uploadEncoding = .int8
        s.layerDrop = LayerDrop(fraction: 0.5, rule: .alternate)
        let corpus = try TinyRun.corpus()
        let whole = TinyRun.initial(s)
        let wholeStore = MemoryRunStore()
        try FedCyBGD.run(settings: s, corpus: corpus, initial: whole, transport: LocalTransport(),
                         store: wholeStore, jobText: "", observer: nil, probe: SystemProcessProbe())
        var seen = 0
        let firstStore = MemoryRunStore()
        try FedCyBGD.run(settings: s, corpus: corpus, initial: TinyRun.initial(s), transport: LocalTransport(),
                         store: firstStore, jobText: "", observer: nil, probe: SystemProcessProbe(), stopRequested: { seen += 1; return seen == 4 })
        let checkpoint = try XCTUnwrap(firstStore.checkpoints.last)
        XCTAssertNotNil(checkpoint.state.downloads)
        let restored = ParameterBuffer(layout: whole.layout)
        checkpoint.parameters.withUnsafeBufferPointer { _ = restored.storage.update(fromContentsOf: $0) }
        let resumedStore = MemoryRunStore()
        try FedCyBGD.run(settings: s, corpus: corpus, initial: restored, transport: LocalTransport(),
                         store: resumedStore, jobText: "", observer: nil, probe: SystemProcessProbe(), resuming: checkpoint.state)
        XCTAssertEqual(zip(whole.storage, restored.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0)
        let expected = wholeStore.records.suffix(5)
        XCTAssertEqual(resumedStore.records.map(\.bytesDown), expected.map(\.bytesDown))
        XCTAssertEqual(resumedStore.records.map(\.trainLoss.bitPattern), expected.map(\.trainLoss.bitPattern))
    }

    func testLayerDropRulesNeverDropTheActiveLayer() throws {
        let alternate = LayerDrop(fraction: 0.5, rule: .alternate)
        XCTAssertEqual(alternate.droppedLayers(activeBlock: 1, layers: 5), [2, 4], "frozen 1,2,3,4: every other one")
        XCTAssertEqual(alternate.droppedLayers(activeBlock: 0, layers: 6), [1, 3, 5])
        let far = LayerDrop(fraction: 0.5, rule: .far)
        XCTAssertEqual(far.droppedLayers(activeBlock: 1, layers: 5), [3, 4], "farthest from layer 0")
        XCTAssertEqual(far.droppedLayers(activeBlock: 7, layers: 6), [0, 1, 2], "ln_f: the lowest layers are farthest")
        XCTAssertEqual(far.droppedLayers(activeBlock: 3, layers: 5), [0, 4], "layer 2: the two ends")
        for active in 0...7 {
            for drop in [alternate, far, LayerDrop(fraction: 0.9, rule: .far)] {
                let dropped = drop.droppedLayers(activeBlock: active, layers: 6)
                XCTAssertFalse(dropped.contains(active - 1))
                XCTAssertEqual(dropped.count, Int((drop.fraction * Double(active >= 1 && active <= 6 ? 5 : 6)).rounded(.down)))
            }
        }
        XCTAssertThrowsError(try LayerDrop(fraction: 1).validated())
        XCTAssertTrue(LayerDrop(fraction: 0).droppedLayers(activeBlock: 2, layers: 6).isEmpty)
    }

    func testFedLoRATrainsOnlyTheAdaptersAndCheckpointsTheMergedModel() throws {
        var s = settings(.fedlora, rounds: 6, k: 2)
        s.lora = LoRAConfig(rank: 2, alpha: 4)
        s.checkpointEvery = 3
        let corpus = try TinyRun.corpus()
        let base = TinyRun.initial(s)
        let (oneStore, one) = try TinyRun.runThreaded(ranks: 1, settings: s, corpus: corpus)
        let (threeStore, _) = try TinyRun.runThreaded(ranks: 3, settings: s, corpus: corpus)
        XCTAssertEqual(zip(one.storage, base.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                       "the base model never changes")
        let final = try XCTUnwrap(oneStore.checkpoints.last)
        XCTAssertEqual(final.state.adapters, try XCTUnwrap(threeStore.checkpoints.last).state.adapters)
        XCTAssertEqual(final.parameters, try XCTUnwrap(threeStore.checkpoints.last).parameters)
        XCTAssertNotEqual(final.parameters, Array(base.storage), "the checkpoint holds the merged model")
        let adapterCount = LoRALayout(model: s.model, lora: s.lora).parameterCount
        XCTAssertEqual(final.state.adapters.count, adapterCount)
        for record in oneStore.records {
            XCTAssertEqual(record.target, .adapters)
            XCTAssertEqual(record.clientBytesUp, record.clients.map { _ in adapterCount * 4 + UploadHeader.encodedSize })
        }
        // After the first selection a client downloads only the adapters.
        let later = oneStore.records.last!
        XCTAssertEqual(later.clientBytesDown, later.clients.map { _ in adapterCount * 4 + Download.unitOverhead })
        let summary = try XCTUnwrap(oneStore.summary)
        XCTAssertLessThan(summary.finalEvalLoss, summary.initialEvalLoss)

        // Resume from round 3 with the base model and the checkpoint's state.
        let middle = oneStore.checkpoints.first { $0.state.round == 3 }!
        let resumedStore = MemoryRunStore()
        try FedCyBGD.run(settings: s, corpus: corpus, initial: TinyRun.initial(s), transport: LocalTransport(),
                         store: resumedStore, jobText: "", observer: nil, probe: SystemProcessProbe(), resuming: middle.state)
        XCTAssertEqual(resumedStore.checkpoints.last?.parameters, final.parameters)
        XCTAssertEqual(resumedStore.checkpoints.last?.state.adapters, final.state.adapters)
    }
}

private extension LayerDrop {
    /// The dropped layers of a model of `layers` layers while block `activeBlock` trains.
    func droppedLayers(activeBlock: Int, layers: Int) -> Set<Int> {
        let config = GPTConfig(vocabSize: 16, contextLength: 4, embedDim: 4, layers: layers, heads: 1)
        return droppedLayers(activeBlock: activeBlock, layout: ParameterLayout(config: config))
    }
}
