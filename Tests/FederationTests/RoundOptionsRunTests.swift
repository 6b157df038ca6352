import Federation
import GPT
import Kernels
import SystemMetrics
import XCTest

/// The round options (block set and order, client selection, learning-rate schedule, local
/// epochs) drive real runs, on one rank and on three, with the same result.
final class RoundOptionsRunTests: XCTestCase {
    private func optionsSettings() -> FederationSettings {
        var settings = TinyRun.settings(rounds: 8, layers: 3, clientsPerRound: 2)
        settings.blockSet = .layers
        settings.blockOrder = .random
        settings.clientSelection = .random
        settings.learningRateSchedule = LearningRateSchedule(decay: .cosine, warmupRounds: 2)
        settings.localEpochs = 0.05
        return settings
    }

    func testRoundsFollowTheScheduleAndClientSelection() throws {
        let settings = optionsSettings()
        let corpus = try TinyRun.corpus()
        let store = MemoryRunStore()
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: TinyRun.initial(settings),
                         transport: LocalTransport(), store: store, jobText: "", observer: nil, probe: SystemProcessProbe())
        let schedule = CycleSchedule(settings: settings, clientCount: corpus.clients.count)
        XCTAssertEqual(store.records.map(\.target), (1...8).map { .block(schedule.block(ofRound: $0)) })
        XCTAssertEqual(Set(store.records.prefix(3).map(\.target)), [.block(1), .block(2), .block(3)], "a cycle visits only the layers, each once")
        XCTAssertEqual(store.records.map(\.clients),
                       (1...8).map { ClientSelection.random.clients(round: $0, count: corpus.clients.count, k: 2, seed: settings.seed) })
        XCTAssertEqual(store.records.filter { !$0.evalLoss.isNaN }.map(\.round), [3, 6, 8], "evaluation at each cycle's end")
        // Epoch-based local work: tokens trained follow each client's own step count.
        let expectedTokens = store.records.flatMap(\.clients).reduce(0) { total, client in
            total + settings.localSteps(forClientTokens: corpus.clients[client].sampleCount) * settings.batch * settings.sequence
        }
        XCTAssertEqual(store.checkpoints.last?.state.totals.tokensTrained, expectedTokens)
    }

    func testOptionsGiveBitIdenticalParametersOnOneAndThreeRanks() throws {
        let previousThreads = BLAS.threads
        BLAS.setThreads(1)
        defer { BLAS.setThreads(previousThreads) }
        let settings = optionsSettings()
        let corpus = try TinyRun.corpus()
        let single = TinyRun.initial(settings)
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: single, transport: LocalTransport(),
                         store: nil, jobText: "", observer: nil, probe: SystemProcessProbe())
        let (_, threaded) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus)
        XCTAssertEqual(zip(single.storage, threaded.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0)
    }

    func testUpdateThousandTimesTooLargeIsRejectedByTheNormGuard() throws {
        var settings = TinyRun.settings(rounds: 8, checkpointEvery: 1)
        settings.updateNormGuard = UpdateNormGuard.Configuration(bound: .medianMultiple(10), warmup: 2, window: 32)
        let corpus = try TinyRun.corpus()
        let initial = TinyRun.initial(settings)
        // Rank 2 hosts clients 1 and 3; client 3 trains in round 4 (block 3) and, the rotation moved
        // on by one in the second cycle (4 clients, 4 blocks, k = 1), in round 7 (block 2).
        let bodyTag = UploadTag.body(client: 3)
        let (store, _) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus) { rank, transport in
            guard rank == 2 else { return }
            transport.tamper = { _, tag, bytes in
                guard tag == bodyTag else { return bytes }
                var values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                for i in values.indices { values[i] *= 1000 }
                return values.withUnsafeBytes { Array($0) }
            }
        }
        XCTAssertEqual(store.records.map(\.clients), [[0], [1], [2], [3], [1], [2], [3], [0]])
        XCTAssertEqual(store.records.map(\.rejectedUploads), [0, 0, 0, 1, 0, 0, 1, 0])
        let block = initial.layout.blocks[3].range
        XCTAssertEqual(store.checkpoints[2].parameters[block], store.checkpoints[3].parameters[block], "the block stays as it was")
        XCTAssertEqual(store.records[3].updateNorm, 0)
    }
}
