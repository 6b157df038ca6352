import Federation
import XCTest

/// The cyclic client selection gives every block every client over the cycles, and keeps the
/// plain rotation of every job whose rotation never tied blocks to clients (docs/OPTIONS.md).
final class ClientCoverageTests: XCTestCase {
    private func schedule(clients: Int, layers: Int, k: Int, shards: Int = 1, order: BlockOrder = .ascending,
                          selection: ClientSelection = .cyclic, algorithm: Algorithm = .fedcybgd) -> CycleSchedule {
        var settings = TinyRun.settings(layers: layers, clientsPerRound: k)
        settings.blockOrder = order
        settings.clientSelection = selection
        settings.embeddingShards = shards
        settings.algorithm = algorithm
        return CycleSchedule(settings: settings, clientCount: clients)
    }

    /// Per unit, the clients that trained it in the first `rounds` rounds.
    private func met(_ plan: CycleSchedule, rounds: Int) -> [Int: Set<Int>] {
        var met: [Int: Set<Int>] = [:]
        for round in 1...rounds { met[plan.unit(ofRound: round), default: []].formUnion(plan.clients(ofRound: round)) }
        return met
    }

    /// The job: 2 clients (one per task), 2 layers, k = 1. The plain rotation gave the
    /// embeddings and h.1 only client 0, h.0 and the final norm only client 1.
    func testTwoClientsTwoLayersOneClientPerRoundShiftEachCycle() {
        let plain = (1...8).map { ClientSelection.cyclic.clients(round: $0, count: 2, k: 1, seed: 7)[0] }
        XCTAssertEqual(plain, [0, 1, 0, 1, 0, 1, 0, 1])
        let plan = schedule(clients: 2, layers: 2, k: 1)
        XCTAssertEqual((1...12).map { plan.clients(ofRound: $0)[0] }, [0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1])
        XCTAssertEqual(met(plan, rounds: 8), [0: [0, 1], 1: [0, 1], 2: [0, 1], 3: [0, 1]])
    }

    /// Within N/gcd(N, k) cycles every unit is trained by every client, for shapes whose plain
    /// rotation ties (gcd(cycle · k, N) > k) and for shapes whose does not.
    func testEveryBlockMeetsEveryClientWithinNCycles() {
        let shapes: [(clients: Int, layers: Int, k: Int, shards: Int, order: BlockOrder)] = [
            (2, 2, 1, 1, .ascending), (4, 2, 2, 1, .ascending), (6, 1, 2, 1, .descending), (6, 4, 1, 1, .ascending),
            (9, 1, 3, 1, .ascending), (10, 3, 2, 1, .ascending), (4, 2, 1, 3, .ascending), (43, 4, 3, 1, .ascending),
            (5, 2, 2, 1, .ascending), (12, 2, 4, 1, .descending),
        ]
        for shape in shapes {
            let plan = schedule(clients: shape.clients, layers: shape.layers, k: shape.k, shards: shape.shards, order: shape.order)
            let cycles = shape.clients / (1...shape.k).last { shape.k % $0 == 0 && shape.clients % $0 == 0 }!
            let seen = met(plan, rounds: cycles * plan.cycleLength)
            XCTAssertEqual(seen.count, plan.cycleLength, "\(shape)")
            for (unit, clients) in seen.sorted(by: { $0.key < $1.key }) {
                XCTAssertEqual(clients.count, shape.clients, "\(shape): unit \(unit) met only \(clients.sorted())")
            }
        }
    }

    /// The demo (43 clients, k = 3, 4 layers: 6 blocks a cycle) and other shapes whose plain
    /// rotation never tied keep it round for round, as do the algorithms that train every block.
    func testUntiedShapesKeepThePlainRotation() {
        let shapes: [(clients: Int, layers: Int, k: Int, algorithm: Algorithm)] = [
            (43, 4, 3, .fedcybgd), (5, 2, 2, .fedcybgd), (4, 1, 1, .badam), (3, 2, 2, .fedcybgd), (6, 2, 2, .fedcybgd),
            (2, 2, 1, .fedavg), (4, 2, 2, .fedlora),
        ]
        for shape in shapes {
            let plan = schedule(clients: shape.clients, layers: shape.layers, k: shape.k, algorithm: shape.algorithm)
            for round in 1...(shape.clients * plan.cycleLength * 3) {
                let plain = (0..<shape.k).map { ((round - 1) * shape.k + $0) % shape.clients }
                XCTAssertEqual(plan.clients(ofRound: round), plain, "\(shape) round \(round)")
            }
        }
    }

    /// The start-up fact: blocks a chosen order or selection leaves without some client over the
    /// run although the default schedule gives them every client in as many rounds.
    func testBlocksTiedToClientsByAChosenOrderOrSelection() {
        XCTAssertEqual(schedule(clients: 2, layers: 2, k: 1).blocksTiedToClients(rounds: 40), [], "the defaults")
        XCTAssertEqual(schedule(clients: 2, layers: 2, k: 1, order: .descending).blocksTiedToClients(rounds: 40), [])
        XCTAssertEqual(schedule(clients: 2, layers: 2, k: 1, algorithm: .fedavg).blocksTiedToClients(rounds: 40), [])
        let random = schedule(clients: 2, layers: 2, k: 1, selection: .random)
        XCTAssertEqual(random.blocksTiedToClients(rounds: 4), [], "one cycle: the default ties as well")
        let missing = met(random, rounds: 8).filter { $0.value.count < 2 }.keys.sorted()
        XCTAssertFalse(missing.isEmpty, "seed 7 draws one client twice for some block in two cycles")
        XCTAssertEqual(random.blocksTiedToClients(rounds: 8), missing)
    }
}
