import Corpus
import Federation
import GPT
import Kernels
import SystemMetrics
import XCTest

final class FedCyBGDTests: XCTestCase {
    func testScheduleVisitsBlocksInAscendingCycleOrderAndClientsInTurn() {
        let schedule = CycleSchedule(settings: TinyRun.settings(layers: 2, clientsPerRound: 2), clientCount: 5)
        XCTAssertEqual((1...9).map(schedule.block(ofRound:)), [0, 1, 2, 3, 0, 1, 2, 3, 0])
        XCTAssertEqual((1...9).map(schedule.cycle(ofRound:)), [1, 1, 1, 1, 2, 2, 2, 2, 3])
        XCTAssertEqual(schedule.clients(ofRound: 1), [0, 1])
        XCTAssertEqual(schedule.clients(ofRound: 3), [4, 0])
        XCTAssertTrue(schedule.endsCycle(4))
        XCTAssertFalse(schedule.endsCycle(5))
    }

    func testPlacementPutsClientsRoundRobinOnRanksAfterTheServer() {
        XCTAssertEqual((0..<5).map(ClientPlacement(ranks: 3).host(of:)), [1, 2, 1, 2, 1])
        XCTAssertEqual((0..<3).map(ClientPlacement(ranks: 1).host(of:)), [0, 0, 0])
        XCTAssertFalse(ClientPlacement(ranks: 3).hostsClients(rank: 0))
        XCTAssertTrue(ClientPlacement(ranks: 1).hostsClients(rank: 0))
    }

    func testOneRankRunTrainsOnlyTheScheduledBlockEachRoundAndLowersTheLoss() throws {
        let settings = TinyRun.settings(rounds: 8, checkpointEvery: 1)
        let corpus = try TinyRun.corpus()
        let store = MemoryRunStore()
        let start = TinyRun.initial(settings)
        let before = Array(start.storage)
        let summary = try XCTUnwrap(FedCyBGD.run(settings: settings, corpus: corpus, initial: start,
                                                 transport: LocalTransport(), store: store, jobText: "tiny", observer: nil, probe: SystemProcessProbe()))
        XCTAssertEqual(store.records.map(\.target), [0, 1, 2, 3, 0, 1, 2, 3].map(RoundTarget.block))
        // 4 clients, 4 blocks, k = 1: the rotation skips a turn each cycle so blocks meet other clients.
        XCTAssertEqual(store.records.map(\.clients), [[0], [1], [2], [3], [1], [2], [3], [0]])
        let layout = start.layout
        var previous = before
        for (index, checkpoint) in store.checkpoints.prefix(8).enumerated() {
            let trained = store.records[index].target.block
            for block in layout.blocks {
                let changed = previous[block.range] != checkpoint.parameters[block.range]
                XCTAssertEqual(changed, block.index == trained, "round \(index + 1), block \(block.name)")
            }
            previous = checkpoint.parameters
        }
        XCTAssertLessThan(summary.finalEvalLoss, summary.initialEvalLoss - 0.3)
        XCTAssertEqual(store.records.filter { !$0.evalLoss.isNaN }.map(\.round), [4, 8])
    }

    func testDownloadCarriesOnlyChangedBlocksAndClientsAreChargedForWhatTheyLack() throws {
        let settings = TinyRun.settings(rounds: 6, layers: 3)
        let corpus = try TinyRun.corpus()
        let store = MemoryRunStore()
        let start = TinyRun.initial(settings)
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: start, transport: LocalTransport(),
                         store: store, jobText: "", observer: nil, probe: SystemProcessProbe())
        let layout = start.layout
        let blockBytes = layout.blocks.map { $0.range.count * 4 + Download.unitOverhead }
        let full = blockBytes.reduce(0, +)
        let records = store.records
        // Round 1 broadcasts the whole model; round r > 1 only the block trained in round r-1.
        XCTAssertGreaterThan(records[0].bytesBroadcast, full)
        for r in 1..<records.count {
            XCTAssertLessThan(records[r].bytesBroadcast - blockBytes[records[r - 1].target.block!], 64, "round \(r + 1)")
            XCTAssertGreaterThan(records[r].bytesBroadcast, blockBytes[records[r - 1].target.block!])
        }
        // Five blocks, four clients. Clients 0-3 are new in rounds 1-4 and pay for the whole model.
        // In round 5 client 0 (synchronised in round 1) lacks the blocks changed in rounds 1-4,
        // blocks 0-3; in round 6 client 1 (round 2) lacks those of rounds 2-5, blocks 1-4.
        XCTAssertEqual(records.prefix(4).map(\.bytesDown), Array(repeating: full, count: 4))
        XCTAssertEqual(records[4].bytesDown, full - blockBytes[4])
        XCTAssertEqual(records[5].bytesDown, full - blockBytes[0])
        // Each upload is one block plus its header.
        for record in records {
            XCTAssertEqual(record.bytesUp, layout.blocks[record.target.block!].range.count * 4 + UploadHeader.encodedSize)
        }
    }

    func testThreeRanksGiveBitIdenticalParametersToOneRank() throws {
        // Ranks are threads here, so each must run BLAS single-threaded, as each MPI rank would
        // with the same thread count; two threads sharing one BLAS pool may split work differently.
        let previousThreads = BLAS.threads
        BLAS.setThreads(1)
        defer { BLAS.setThreads(previousThreads) }
        let settings = TinyRun.settings(rounds: 8, clientsPerRound: 2)
        let corpus = try TinyRun.corpus()
        let single = TinyRun.initial(settings)
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: single, transport: LocalTransport(),
                         store: nil, jobText: "", observer: nil, probe: SystemProcessProbe())
        let (_, threaded) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus)
        let differing = zip(single.storage, threaded.storage).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "parameters differing between 1 and 3 ranks")
        let untrained = TinyRun.initial(settings)
        XCTAssertNotEqual(Array(single.storage), Array(untrained.storage))
    }
}
