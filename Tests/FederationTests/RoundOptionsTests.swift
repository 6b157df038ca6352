import Federation
import XCTest

/// Block orders, block sets, client selection, learning-rate schedules and local work.
final class RoundOptionsTests: XCTestCase {
    /// The schedule of a one-client job visiting `set` in `order`.
    private func schedule(_ set: BlockSet, _ order: BlockOrder, layers: Int, seed: UInt64) -> CycleSchedule {
        var settings = TinyRun.settings(layers: layers)
        settings.blockSet = set
        settings.blockOrder = order
        settings.seed = seed
        return CycleSchedule(settings: settings, clientCount: 1)
    }

    func testAscendingAndDescendingOrders() {
        let blocks = Array(0..<6)
        XCTAssertEqual(BlockOrder.ascending.order(cycle: 3, seed: 1, blocks: [4, 0, 2]), [0, 2, 4])
        XCTAssertEqual(BlockOrder.descending.order(cycle: 1, seed: 1, blocks: blocks), [5, 4, 3, 2, 1, 0])
        let plan = schedule(.all, .descending, layers: 4, seed: 1)
        XCTAssertEqual((1...7).map(plan.block(ofRound:)), [5, 4, 3, 2, 1, 0, 5])
        XCTAssertEqual((1...7).map(plan.cycle(ofRound:)), [1, 1, 1, 1, 1, 1, 2])
        XCTAssertEqual((1...7).filter(plan.endsCycle), [6])
    }

    func testRandomOrderIsAFreshDeterministicPermutationEachCycle() {
        let blocks = Array(0..<14)
        let orders = (1...50).map { BlockOrder.random.order(cycle: $0, seed: 42, blocks: blocks) }
        for order in orders { XCTAssertEqual(order.sorted(), blocks) }
        XCTAssertEqual(Set(orders).count, 50, "every cycle draws its own permutation")
        XCTAssertEqual(orders, (1...50).map { BlockOrder.random.order(cycle: $0, seed: 42, blocks: blocks) })
        XCTAssertNotEqual(orders, (1...50).map { BlockOrder.random.order(cycle: $0, seed: 43, blocks: blocks) })
        // Uniform enough: over 2000 cycles each block leads about 2000/14 ≈ 143 times.
        var leads = [Int](repeating: 0, count: 14)
        for cycle in 1...2000 { leads[BlockOrder.random.order(cycle: cycle, seed: 7, blocks: blocks)[0]] += 1 }
        XCTAssertTrue(leads.allSatisfy { (95...195).contains($0) }, "\(leads)")
        // The plan walks each cycle's permutation, so a cycle's rounds cover every block once.
        let plan = schedule(.all, .random, layers: 12, seed: 42)
        XCTAssertEqual((15...28).map(plan.block(ofRound:)), orders[1])
        XCTAssertEqual(plan.order(ofCycle: 2), orders[1])
    }

    func testLayersOnlyBlockSet() {
        XCTAssertEqual(BlockSet.all.blocks(layers: 4), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(BlockSet.layers.blocks(layers: 4), [1, 2, 3, 4])
        let plan = schedule(.layers, .ascending, layers: 4, seed: 1)
        XCTAssertEqual(plan.cycleLength, 4)
        XCTAssertEqual((1...9).map(plan.block(ofRound:)), [1, 2, 3, 4, 1, 2, 3, 4, 1])
    }

    func testCyclicSelectionUsesEveryClientInTurn() {
        XCTAssertEqual((1...4).map { ClientSelection.cyclic.clients(round: $0, count: 5, k: 2, seed: 0) },
                       [[0, 1], [2, 3], [4, 0], [1, 2]])
    }

    func testRandomSelectionIsWithoutReplacementAndCoversEveryone() {
        let count = 43, k = 5
        var seen = [Int](repeating: 0, count: count)
        for round in 1...2000 {
            let picked = ClientSelection.random.clients(round: round, count: count, k: k, seed: 9)
            XCTAssertEqual(picked.count, k)
            XCTAssertEqual(Set(picked).count, k, "no client twice in round \(round)")
            XCTAssertEqual(picked, picked.sorted())
            XCTAssertTrue(picked.allSatisfy { (0..<count).contains($0) })
            for c in picked { seen[c] += 1 }
        }
        // Expected 2000·5/43 ≈ 233 per client.
        XCTAssertTrue(seen.allSatisfy { (170...300).contains($0) }, "\(seen)")
        XCTAssertEqual(ClientSelection.random.clients(round: 17, count: count, k: k, seed: 9),
                       ClientSelection.random.clients(round: 17, count: count, k: k, seed: 9))
        XCTAssertEqual(ClientSelection.random.clients(round: 3, count: 4, k: 4, seed: 1), [0, 1, 2, 3])
        let rounds = (1...20).map { ClientSelection.random.clients(round: $0, count: count, k: k, seed: 9) }
        XCTAssertGreaterThan(Set(rounds).count, 15, "rounds draw afresh")
    }

    func testLearningRateSchedulesAtKnownRounds() throws {
        let constant = LearningRateSchedule()
        XCTAssertEqual(constant.rate(round: 50, totalRounds: 100, base: 3e-3), 3e-3)

        let cosine = LearningRateSchedule(decay: .cosine)
        XCTAssertEqual(cosine.rate(round: 1, totalRounds: 11, base: 1), 1, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(round: 6, totalRounds: 11, base: 1), 0.55, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(round: 11, totalRounds: 11, base: 1), 0.1, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(round: 30, totalRounds: 11, base: 1), 0.1, accuracy: 1e-7, "past the end: stays at the floor")

        let warm = LearningRateSchedule(decay: .cosine, warmupRounds: 4, floor: 0)
        XCTAssertEqual((1...4).map { warm.rate(round: $0, totalRounds: 9, base: 2) }, [0.5, 1, 1.5, 2])
        XCTAssertEqual(warm.rate(round: 5, totalRounds: 9, base: 2), 2, accuracy: 1e-6)
        XCTAssertEqual(warm.rate(round: 7, totalRounds: 9, base: 2), 1, accuracy: 1e-6)
        XCTAssertEqual(warm.rate(round: 9, totalRounds: 9, base: 2), 0, accuracy: 1e-6)

        let warmConstant = try LearningRateSchedule(decay: "constant", warmupRounds: 2, floor: nil, totalRounds: 10)
        XCTAssertEqual((1...3).map { warmConstant.rate(round: $0, totalRounds: 10, base: 1) }, [0.5, 1, 1])
        // Monotone non-increasing after warm-up.
        let rates = (5...9).map { warm.rate(round: $0, totalRounds: 9, base: 2) }
        XCTAssertEqual(rates, rates.sorted(by: >))
    }

    func testLocalWorkStepsAndEpochs() throws {
        XCTAssertEqual(LocalWork.steps(24).steps(forClientTokens: 1_000_000, batch: 16, sequence: 128), 24)
        let epoch = LocalWork.epochs(1)
        XCTAssertEqual(epoch.steps(forClientTokens: 2048 * 10, batch: 16, sequence: 128), 10)
        XCTAssertEqual(epoch.steps(forClientTokens: 2048 * 10 + 1, batch: 16, sequence: 128), 11)
        XCTAssertEqual(epoch.steps(forClientTokens: 300, batch: 16, sequence: 128), 1, "at least one step")
        XCTAssertEqual(LocalWork.epochs(0.5).steps(forClientTokens: 2048 * 10, batch: 16, sequence: 128), 5)
        XCTAssertEqual(try LocalWork(steps: nil, epochs: nil), .steps(10))
        XCTAssertEqual(try LocalWork(steps: 3, epochs: nil), .steps(3))
        XCTAssertEqual(try LocalWork(steps: nil, epochs: 2), .epochs(2))
    }
}
