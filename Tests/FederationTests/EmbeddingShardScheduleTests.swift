import Federation
import GPT
import XCTest

/// `train.embedding_shards`: the schedule visits each shard of the embeddings as its own round,
/// the units tile the model, and the wire carries a shard target.
final class EmbeddingShardScheduleTests: XCTestCase {
    private func settings(shards: Int, order: BlockOrder = .ascending) -> FederationSettings {
        var settings = TinyRun.settings(layers: 2)
        settings.embeddingShards = shards
        settings.blockOrder = order
        return settings
    }

    /// A job's `train.cycles` is turned into rounds by the same rule the schedule visits by.
    func testTheCycleLengthBeforeTheModelIsTheSchedules() {
        for layers in [1, 2, 5] {
            for blockSet in BlockSet.allCases {
                for shards in [1, 3] where shards == 1 || blockSet == .all {
                    var settings = TinyRun.settings(layers: layers)
                    settings.blockSet = blockSet
                    settings.embeddingShards = shards
                    XCTAssertEqual(CycleSchedule.cycleLength(layers: layers, blockSet: blockSet, embeddingShards: shards),
                                   CycleSchedule(settings: settings, clientCount: 4).cycleLength, "\(layers) \(blockSet) \(shards)")
                }
            }
        }
    }

    func testACycleVisitsEachShardThenTheOtherBlocks() {
        let schedule = CycleSchedule(settings: settings(shards: 4), clientCount: 1)
        XCTAssertEqual(schedule.cycleLength, 4 + 3)
        let targets = (1...8).map { schedule.plan(round: $0).target }
        XCTAssertEqual(targets, [.shard(0), .shard(1), .shard(2), .shard(3), .block(1), .block(2), .block(3), .shard(0)])
        XCTAssertEqual((1...7).map(schedule.block(ofRound:)), [0, 0, 0, 0, 1, 2, 3])
        XCTAssertEqual(schedule.plan(round: 2).trainedUnits, [1])
        XCTAssertEqual(schedule.plan(round: 5).trainedUnits, [4], "layer 0 is unit S")
        XCTAssertEqual(schedule.plan(round: 5).neededUnits, Array(0..<7))
    }

    func testRandomOrderPermutesTheShardsAmongTheBlocks() {
        let schedule = CycleSchedule(settings: settings(shards: 4, order: .random), clientCount: 1)
        let orders = (1...20).map(schedule.order(ofCycle:))
        for order in orders { XCTAssertEqual(order.sorted(), Array(0..<7)) }
        XCTAssertTrue(orders.contains { order in order.firstIndex(of: 0)! + 1 != order.firstIndex(of: 1)! },
                      "shards take their own places in the order")
    }

    func testOneShardIsTheBlockSchedule() {
        let sharded = CycleSchedule(settings: settings(shards: 1, order: .random), clientCount: 3)
        XCTAssertEqual((1...12).map { sharded.plan(round: $0).target }, (1...12).map { .block(sharded.block(ofRound: $0)) })
        XCTAssertEqual((1...12).map { sharded.plan(round: $0).trainedUnits }, (1...12).map { [sharded.block(ofRound: $0)] })
    }

    func testUnitsTileTheModelAndShardsTravelInTheirOwnSlices() {
        let config = settings(shards: 3).model
        let model = FederatedModel(parameters: TinyRun.initial(settings(shards: 3)), embeddingShards: 3)
        XCTAssertEqual(model.unitCount, 3 + 3)
        var next = 0
        for unit in 0..<model.unitCount {
            let values = model.unit(unit)
            XCTAssertEqual(values.baseAddress! - model.parameters.storage.baseAddress!, next)
            XCTAssertEqual(model.rows(unit).count, values.count)
            next += values.count
        }
        XCTAssertEqual(next, ParameterLayout(config: config).parameterCount)
        XCTAssertEqual(model.units.units(of: .allBlocks), Array(0..<6))
        XCTAssertEqual(model.units.units(of: .block(0)), [0, 1, 2])
    }

    func testAShardTargetCrossesTheWire() throws {
        let model = FederatedModel(parameters: TinyRun.initial(settings(shards: 3)), embeddingShards: 3)
        for target: RoundTarget in [.shard(0), .shard(2), .block(0), .allBlocks, .adapters] {
            let header = RoundHeader(round: 5, target: target, clients: [1, 2], learningRate: 0.5, finished: false)
            let bytes = Download.encode(header: header, units: [(unit: 1, encoding: .fp32)], model: model)
            XCTAssertEqual(try Download.apply(bytes, to: model.emptyCopy()).header.target, target)
        }
    }
}
