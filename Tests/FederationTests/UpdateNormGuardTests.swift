import Federation
import GPT
import XCTest

/// The update-norm guard: warm-up, the running-median bound, and saving and restoring its state.
final class UpdateNormGuardTests: XCTestCase {
    func testRejectsAThousandfoldUpdateAfterWarmUpAndAcceptsNormalOnes() {
        var guarded = UpdateNormGuard()
        // Warm-up: the first three accepted updates pass whatever their size, if finite.
        XCTAssertEqual(guarded.screen(norms: [1.0, 50.0]), [true, true])
        XCTAssertFalse(guarded.check(norm: .nan))
        XCTAssertFalse(guarded.check(norm: .infinity))
        XCTAssertEqual(guarded.screen(norms: [1.2]), [true])
        XCTAssertEqual(guarded.currentLimit, 12, "10 × the median of 1, 1.2, 50")
        // Normal updates wander within a few times the median and pass; a 1000× one does not.
        for norm in [0.8, 1.5, 2.5, 0.5, 1.1] { XCTAssertTrue(guarded.check(norm: norm)); guarded.record(norm: norm) }
        XCTAssertFalse(guarded.check(norm: 1000))
        XCTAssertEqual(guarded.screen(norms: [1.0, 1000, 0.9]), [true, false, true])
        XCTAssertEqual(guarded.state.acceptedCount, 10, "the refused update is not recorded")
        XCTAssertFalse(guarded.state.recentNorms.contains(1000))
    }

    func testScreenJudgesARoundAgainstItsStartingState() {
        var guarded = UpdateNormGuard(configuration: .init(bound: .medianMultiple(2), warmup: 1, window: 8))
        guarded.record(norm: 1)
        // All three are judged against the limit at the round's start, 2 × median 1 = 2. Recording
        // 1.9 before judging 2.5 would raise the limit to 2 × 1.45 = 2.9 and let 2.5 through.
        XCTAssertEqual(guarded.screen(norms: [1.9, 2.5, 1.95]), [true, false, true])
        XCTAssertEqual(guarded.state.recentNorms, [1, 1.9, 1.95])
    }

    func testWindowKeepsTheMostRecentNormsSoTheBoundFollowsTheScale() {
        var guarded = UpdateNormGuard(configuration: .init(bound: .medianMultiple(10), warmup: 3, window: 4))
        for norm in [1.0, 1, 1, 1] { guarded.record(norm: norm) }
        XCTAssertFalse(guarded.check(norm: 20))
        // A learning-rate warm-up raises the scale step by step; the window follows it.
        for norm in [3.0, 5, 8, 9] { XCTAssertTrue(guarded.check(norm: norm)); guarded.record(norm: norm) }
        XCTAssertEqual(guarded.state.recentNorms, [3, 5, 8, 9])
        XCTAssertTrue(guarded.check(norm: 20))
        XCTAssertEqual(guarded.state.acceptedCount, 8)
    }

    func testAbsoluteAndOffBounds() {
        let absolute = UpdateNormGuard(configuration: .init(bound: .absolute(2), warmup: 3, window: 8))
        XCTAssertTrue(absolute.check(norm: 2))
        XCTAssertFalse(absolute.check(norm: 2.01), "an absolute bound holds from the first round")
        let off = UpdateNormGuard(configuration: .init(bound: .off, warmup: 3, window: 8))
        XCTAssertTrue(off.check(norm: 1e30))
        XCTAssertFalse(off.check(norm: .nan))
    }

    func testStateSavesAndRestores() throws {
        var original = UpdateNormGuard()
        for norm in [0.5, 0.7, 0.6, 0.9, 0.4] { original.record(norm: norm) }
        let saved = original.state
        var restored = try UpdateNormGuard(configuration: .default,
                                           state: .init(recentNorms: saved.recentNorms, acceptedCount: saved.acceptedCount))
        XCTAssertEqual(restored, original)
        XCTAssertEqual(restored.screen(norms: [0.55, 60]), original.screen(norms: [0.55, 60]))
        XCTAssertThrowsError(try UpdateNormGuard(configuration: .init(bound: .medianMultiple(10), warmup: 1, window: 2),
                                                 state: saved)) { XCTAssertTrue("\($0)".contains("update_norm_window"), "\($0)") }
        XCTAssertThrowsError(try UpdateNormGuard(configuration: .default, state: .init(recentNorms: [.nan], acceptedCount: 1)))
    }

    func testUpdateSizeIsTheL2DistanceAndItsRMS() {
        let before: [Float] = [1, 1, 1, 1], after: [Float] = [4, 5, 1, 1]
        let size = before.withUnsafeBufferPointer { b in after.withUnsafeBufferPointer { UpdateSize(from: b, to: $0) } }
        XCTAssertEqual(size.l2Distance, 5)
        XCTAssertEqual(size.rms, 2.5)
        let empty = [Float]().withUnsafeBufferPointer { UpdateSize(from: $0, to: $0) }
        XCTAssertEqual(empty.rms, 0)
    }

    /// The history's `update_norm` and the guard's norms are one measure of the same change: with
    /// one client a round, the installed change is the upload's, so the guard's RMS is the
    /// history's L2 distance over √n, and both are `UpdateSize` of the block before and after.
    func testGuardScreensTheRMSOfTheL2DistanceTheHistoryRecords() throws {
        let settings = TinyRun.settings(rounds: 6, checkpointEvery: 1)
        let (store, _) = try TinyRun.runThreaded(ranks: 2, settings: settings, corpus: try TinyRun.corpus())
        let layout = ParameterLayout(config: settings.model)
        let screened = store.checkpoints.last!.state.updateNorms.recentNorms
        XCTAssertEqual(screened.count, settings.rounds)
        let initial = TinyRun.initial(settings)
        var before = withExtendedLifetime(initial) { Array(initial.storage) }
        for (record, (checkpoint, rms)) in zip(store.records, zip(store.checkpoints, screened)) {
            let block = layout.blocks[record.target.block!].range
            let size = before[block].withUnsafeBufferPointer { b in
                checkpoint.parameters[block].withUnsafeBufferPointer { UpdateSize(from: b, to: $0) }
            }
            XCTAssertEqual(rms.bitPattern, size.rms.bitPattern, "round \(record.round)")
            XCTAssertEqual(record.updateNorm.bitPattern, Float(size.l2Distance).bitPattern, "round \(record.round)")
            XCTAssertEqual(rms, Double(record.updateNorm) / Double(block.count).squareRoot(), accuracy: rms * 1e-6)
            before = checkpoint.parameters
        }
    }
}
