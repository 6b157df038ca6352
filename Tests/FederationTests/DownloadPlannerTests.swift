import Federation
import XCTest

/// Delta sync with codecs: what the broadcast carries and what each virtual client is charged.
final class DownloadPlannerTests: XCTestCase {
    /// Unit u costs 100·(u+1) bytes exact and a quarter of that compressed.
    private func size(_ unit: Int, _ encoding: BlockEncoding) -> Int { encoding == .fp32 ? 100 * (unit + 1) : 25 * (unit + 1) }

    func testFirstSelectionPaysTheCompressedModelAndTheTrainedUnitExact() {
        var planner = DownloadPlanner(units: 4, clients: 3, frozenEncoding: .int8)
        let first = planner.plan(needed: [0, 1, 2, 3], trained: [1], selected: [0], size: size)
        XCTAssertEqual(first.broadcast.map(\.unit), [0, 1, 2, 3])
        XCTAssertEqual(first.broadcast.map(\.encoding), [.int8, .fp32, .int8, .int8])
        XCTAssertEqual(first.charges, [25 + 200 + 75 + 100])
        planner.changed(unit: 1, round: 1)

        // Round 2 trains unit 2: the views need unit 1 (changed) compressed and unit 2 exact.
        let second = planner.plan(needed: [0, 1, 2, 3], trained: [2], selected: [1, 0], size: size)
        XCTAssertEqual(second.broadcast.map(\.unit), [1, 2])
        XCTAssertEqual(second.broadcast.map(\.encoding), [.int8, .fp32])
        // Client 1 is new: the whole compressed model with unit 2 exact. Client 0 lacks unit 1's
        // new version and an exact unit 2.
        XCTAssertEqual(second.charges, [25 + 50 + 300 + 100, 50 + 300])
    }

    func testExactCodecChargesOnlyChangedUnitsAndDroppedUnitsAreNotSent() {
        var planner = DownloadPlanner(units: 5, clients: 2, frozenEncoding: .fp32)
        _ = planner.plan(needed: [0, 1, 2, 3, 4], trained: [0], selected: [0], size: size)
        planner.changed(unit: 0, round: 1)
        // Unit 3 is dropped this round: not sent, not charged, even though client 1 never had it.
        let second = planner.plan(needed: [0, 1, 2, 4], trained: [1], selected: [0, 1], size: size)
        XCTAssertEqual(second.broadcast.map(\.unit), [0])
        XCTAssertEqual(second.charges, [100, 100 + 200 + 300 + 500])
        // When unit 3 is needed again, client 1 gets it; client 0 already holds it, and so do the
        // views (round 1 sent it). The views get unit 1 again: the hosts trained it in place and
        // the server did not change it (as when every upload is rejected), so their copies are stale.
        let third = planner.plan(needed: [0, 1, 2, 3, 4], trained: [2], selected: [0, 1], size: size)
        XCTAssertEqual(third.broadcast.map(\.unit), [1])
        XCTAssertEqual(third.charges, [0, 400])
    }

    func testSavedStateRestoresChargesAndTheViewsAreRebuiltFromScratch() {
        var planner = DownloadPlanner(units: 3, clients: 2, frozenEncoding: .int8)
        _ = planner.plan(needed: [0, 1, 2], trained: [0], selected: [0], size: size)
        planner.changed(unit: 0, round: 1)
        var restored = DownloadPlanner(units: 3, clients: 2, frozenEncoding: .int8, state: planner.state)
        var continued = planner
        let a = continued.plan(needed: [0, 1, 2], trained: [1], selected: [0, 1], size: size)
        let b = restored.plan(needed: [0, 1, 2], trained: [1], selected: [0, 1], size: size)
        XCTAssertEqual(a.charges, b.charges)
        XCTAssertEqual(a.charges, [25 + 200, 25 + 200 + 75])
        XCTAssertEqual(a.broadcast.map(\.unit), [0, 1], "unit 0 changed; unit 1 is trained and was sent int8")
        // After a restart the views are empty: everything is sent, with the same encodings.
        XCTAssertEqual(b.broadcast.map(\.unit), [0, 1, 2])
        XCTAssertEqual(b.broadcast.map(\.encoding), [.int8, .fp32, .int8])
        XCTAssertEqual(restored.state, continued.state)
    }
}
