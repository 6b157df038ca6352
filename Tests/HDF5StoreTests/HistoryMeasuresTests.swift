import Federation
import Foundation
@testable import HDF5Store
import XCTest

/// The measurement columns of history.h5: bytes per client [R, k] and per-rank RSS and time
/// split [R, P], and the measurement attributes of `/summary`.
final class HistoryMeasuresTests: RunFolderTestCase {
    /// The per-client and per-rank measurement columns.
    let measureColumns = HistorySchema.columns.filter { $0.width != .scalar && $0.width != .perTask && $0.name != "clients" }.map(\.name)

    /// `records()` with bytes per client and the measures of `ranks` ranks.
    func measured(ranks: Int) -> [RoundRecord] {
        records().map { record in
            var copy = record
            copy.clientBytesDown = record.clients.indices.map { record.bytesDown / record.clients.count + $0 }
            copy.clientBytesUp = record.clients.indices.map { 100 * record.round + $0 }
            copy.rankPeakRSS = (0..<ranks).map { 50_000_000 + 1_000 * $0 + record.round }
            copy.rankComputeSeconds = (0..<ranks).map { 0.5 + Double($0) / 8 }
            copy.rankCommSeconds = (0..<ranks).map { 0.25 + Double($0) / 16 }
            copy.rankWaitSeconds = (0..<ranks).map { record.seconds - 0.75 - Double($0) * 3 / 16 }
            return copy
        }
    }

    func testMeasuredColumnsRoundTripPaddedAndDescribed() throws {
        let store = try HDF5RunStore(folder: folder)
        try store.begin(jobText: job, parameterCount: 1, config: nil, clientsPerRound: 3)
        for record in measured(ranks: 4) { try store.append(record) }
        var summary = RunSummary(rounds: 5, clients: 10, parameterCount: 1, totalBytesDown: 1, totalBytesUp: 2,
                                 totalBytesBroadcast: 3, tokensTrained: 4, initialEvalLoss: 5, finalEvalLoss: 2,
                                 wallSeconds: 6, serverCPUSeconds: 1)
        summary.bytesPerClientMean = 1234.5
        summary.bytesPerClientMax = 4321
        summary.peakClientRSS = 50_003_005
        summary.peakServerRSS = 50_000_005
        try store.finish(summary)

        assertSame(try HDF5RunReader.readHistory(folder), measured(ranks: 4))
        XCTAssertEqual(try HDF5RunReader.readSummary(folder), summary)
        let script = """
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "r") as f:
            h = f["history"]
            for name in ["client_bytes_down", "client_bytes_up"]:
                assert h[name].shape == (5, 3) and h[name].dtype == np.int64 and h[name].maxshape == (None, 3), name
                assert h[name].attrs["units"] == "bytes" and h[name].attrs["description"], name
            assert h["client_bytes_up"][3].tolist() == [400, 401, -1]
            assert h["rank_peak_rss"].shape == (5, 4) and h["rank_peak_rss"].attrs["units"] == "bytes"
            for name in ["rank_compute_seconds", "rank_comm_seconds", "rank_wait_seconds"]:
                assert h[name].shape == (5, 4) and h[name].dtype == np.float64 and h[name].attrs["units"] == "s", name
            total = h["rank_compute_seconds"][()] + h["rank_comm_seconds"][()] + h["rank_wait_seconds"][()]
            assert np.allclose(total, h["seconds"][()][:, None]), total
            s = f["summary"].attrs
            assert s["bytes_per_client_mean"] == 1234.5 and s["bytes_per_client_mean_units"] == "bytes"
            assert s["bytes_per_client_max"] == 4321 and s["peak_client_rss"] == 50003005
            assert s["peak_server_rss"] == 50000005 and s["peak_server_rss_units"] == "bytes"
        print("ok")
        """
        let (status, output) = try python(script, [store.historyPath])
        XCTAssertEqual(status, 0, output)
        let dump = try runTool("h5dump", ["-H", store.historyPath])
        for name in measureColumns {
            XCTAssertTrue(dump.output.contains("DATASET \"\(name)\""), "h5dump -H lacks \(name)")
        }
    }

    func testResumeCutsTheMeasuresAndMoreRanksWidenThem() throws {
        let store = try HDF5RunStore(folder: folder)
        try store.begin(jobText: job, parameterCount: 1, config: nil, clientsPerRound: 3)
        let two = measured(ranks: 2), three = measured(ranks: 3)
        for record in two.prefix(3) { try store.append(record) }
        try store.truncateHistory(afterRound: 2)
        for record in three[2...] { try store.append(record) }

        let expected = Array(two.prefix(2)) + Array(three[2...])
        assertSame(try HDF5RunReader.readHistory(folder), expected)
        let file = try HDF5File.open(store.historyPath)
        defer { try? file.close() }
        let history = try file.openGroup("history")
        XCTAssertEqual(try history.openDataset("rank_peak_rss").shape(), [5, 3])
        XCTAssertEqual(try history.openDataset("client_bytes_up").shape(), [5, 3])
        XCTAssertEqual(Array(try history.openDataset("rank_peak_rss").read(as: Int.self)[0 ..< 3]),
                       [50_000_001, 50_001_001, -1], "the rounds on two ranks are padded")
        XCTAssertTrue(try history.openDataset("rank_wait_seconds").read(as: Double.self)[2].isNaN)
        XCTAssertEqual(try history.openDataset("rank_wait_seconds").stringAttribute("units"), "s")
    }

    func testAHistoryWithoutMeasureColumnsGetsThemAtItsNextAppend() throws {
        let store = try HDF5RunStore(folder: folder)
        try store.begin(jobText: job, parameterCount: 1, config: nil, clientsPerRound: 3)
        let all = measured(ranks: 3)
        for record in records().prefix(2) { try store.append(record) }
        // As a run written before the measurement existed would have left it.
        let old = try HDF5File.open(store.historyPath, writable: true)
        let group = try old.openGroup("history")
        for name in measureColumns { try group.remove(name) }
        try old.close()
        XCTAssertEqual(try HDF5RunReader.readHistory(folder), Array(records().prefix(2)))

        try store.append(all[2])
        assertSame(try HDF5RunReader.readHistory(folder), Array(records().prefix(2)) + [all[2]])
        try store.truncateHistory(afterRound: 1)
        assertSame(try HDF5RunReader.readHistory(folder), Array(records().prefix(1)))
    }

    func testRecordedRoundsAreTheStoredHistory() throws {
        let store = try HDF5RunStore(folder: folder)
        try store.begin(jobText: job, parameterCount: 1, config: nil, clientsPerRound: 3)
        for record in measured(ranks: 2) { try store.append(record) }
        let recorded: RunStore = store
        assertSame(try recorded.recordedRounds(), measured(ranks: 2))
        XCTAssertEqual(RunMeasures(history: try recorded.recordedRounds()).peakServerRSS, 50_000_005)
        XCTAssertEqual(RunMeasures(history: try recorded.recordedRounds()).peakClientRSS, 50_001_005)
    }
}
