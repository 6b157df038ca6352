@testable import Federation
import Foundation
import GPT
import Kernels
@testable import SystemMetrics
import XCTest

/// Per-round measurement: bytes per client, peak RSS and the time split of every rank, and
/// the run summary built from them.
final class MeasurementTests: XCTestCase {
    private func assertMeasured(_ records: [RoundRecord], ranks: Int, k: Int, file: StaticString = #filePath, line: UInt = #line) {
        for record in records {
            let round = "round \(record.round)"
            XCTAssertEqual(record.clientBytesDown.count, k, round, file: file, line: line)
            XCTAssertEqual(record.clientBytesUp.count, k, round, file: file, line: line)
            XCTAssertEqual(record.clientBytesDown.reduce(0, +), record.bytesDown, round, file: file, line: line)
            XCTAssertEqual(record.rejectedUploads, 0, round, file: file, line: line)
            XCTAssertEqual(record.clientBytesUp.reduce(0, +), record.bytesUp, round, file: file, line: line)
            XCTAssertEqual(record.rankPeakRSS.count, ranks, round, file: file, line: line)
            for rank in 0..<ranks {
                let what = "\(round), rank \(rank)"
                XCTAssertGreaterThan(record.rankPeakRSS[rank], 5_000_000, what, file: file, line: line)
                let parts = [record.rankComputeSeconds[rank], record.rankCommSeconds[rank], record.rankWaitSeconds[rank]]
                XCTAssertTrue(parts.allSatisfy { $0.isFinite && $0 >= 0 }, "\(what): \(parts)", file: file, line: line)
                // By construction (rank 0) and by causality (client ranks work only between the
                // round's broadcast and their report, both inside rank 0's round), the split
                // adds up to the round's wall time.
                XCTAssertEqual(parts.reduce(0, +), record.seconds, accuracy: 1e-9 + 1e-12 * record.seconds,
                               "\(what): \(parts) vs \(record.seconds)", file: file, line: line)
            }
            XCTAssertEqual(record.rankComputeSeconds.count, ranks, file: file, line: line)
            XCTAssertEqual(record.rankCommSeconds.count, ranks, file: file, line: line)
            XCTAssertEqual(record.rankWaitSeconds.count, ranks, file: file, line: line)
        }
    }

    func testThreeRanksRecordEveryRanksMeasuresAndEveryClientsBytes() throws {
        let previousThreads = BLAS.threads
        BLAS.setThreads(1)
        defer { BLAS.setThreads(previousThreads) }
        let settings = TinyRun.settings(rounds: 6, clientsPerRound: 2)
        let (store, _) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: try TinyRun.corpus())
        XCTAssertEqual(store.records.count, 6)
        assertMeasured(store.records, ranks: 3, k: 2)
        for record in store.records {
            // Rank 0 hosts no client here: it encodes and broadcasts, and the client ranks train.
            XCTAssertGreaterThan(record.rankCommSeconds[0], 0)
            XCTAssertGreaterThan(record.rankCommSeconds[1] + record.rankCommSeconds[2], 0, "uploads are sent")
            XCTAssertGreaterThan(record.rankComputeSeconds[1] + record.rankComputeSeconds[2], 0, "clients train")
        }
        let summary = try XCTUnwrap(store.summary)
        assertSummary(summary, matches: store.records)
        XCTAssertEqual(summary.peakClientRSS, store.records.flatMap { $0.rankPeakRSS.dropFirst() }.max())
        let clientCompute = store.records.reduce(0.0) { $0 + $1.rankComputeSeconds[1] + $1.rankComputeSeconds[2] }
        XCTAssertEqual(summary.clientComputeFraction, clientCompute / (2 * summary.wallSeconds), accuracy: 1e-12)
        XCTAssertTrue(summary.clientComputeFraction > 0 && summary.clientComputeFraction <= 1)
    }

    func testOneRankRunMeasuresRankZeroAloneAndItsTrainingIsCompute() throws {
        let settings = TinyRun.settings(rounds: 4)
        let store = MemoryRunStore()
        try FedCyBGD.run(settings: settings, corpus: try TinyRun.corpus(), initial: TinyRun.initial(settings),
                         transport: LocalTransport(), store: store, jobText: "", observer: nil, probe: SystemProcessProbe())
        assertMeasured(store.records, ranks: 1, k: 1)
        for record in store.records {
            XCTAssertGreaterThan(record.rankComputeSeconds[0], record.rankWaitSeconds[0], "rank 0 trains its own clients")
        }
        let summary = try XCTUnwrap(store.summary)
        assertSummary(summary, matches: store.records)
        XCTAssertEqual(summary.peakClientRSS, summary.peakServerRSS, "with one rank, the client rank is rank 0")
        let compute = store.records.reduce(0.0) { $0 + $1.rankComputeSeconds[0] }
        XCTAssertEqual(summary.clientComputeFraction, compute / summary.wallSeconds, accuracy: 1e-12)
        XCTAssertTrue(summary.clientComputeFraction > 0 && summary.clientComputeFraction <= 1)
    }

    func testResumedRunSummaryCountsTheBytesOfTheRoundsBeforeTheResume() throws {
        let settings = TinyRun.settings(rounds: 8, clientsPerRound: 2, checkpointEvery: 2)
        let corpus = try TinyRun.corpus()
        let wholeStore = MemoryRunStore()
        let whole = try XCTUnwrap(FedCyBGD.run(settings: settings, corpus: corpus, initial: TinyRun.initial(settings),
                                               transport: LocalTransport(), store: wholeStore, jobText: "", observer: nil, probe: SystemProcessProbe()))
        var rounds = 0
        let store = MemoryRunStore()
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: TinyRun.initial(settings), transport: LocalTransport(),
                         store: store, jobText: "", observer: nil, probe: SystemProcessProbe(), stopRequested: { rounds += 1; return rounds == 3 })
        let checkpoint = try XCTUnwrap(store.checkpoints.last)
        let restored = ParameterBuffer(layout: ParameterLayout(config: settings.model))
        checkpoint.parameters.withUnsafeBufferPointer { _ = restored.storage.update(fromContentsOf: $0) }
        let resumed = try XCTUnwrap(FedCyBGD.run(settings: settings, corpus: corpus, initial: restored,
                                                 transport: LocalTransport(), store: store, jobText: "", observer: nil, probe: SystemProcessProbe(),
                                                 resuming: checkpoint.state))
        XCTAssertEqual(store.records.map(\.round), Array(1...8))
        XCTAssertEqual(resumed.bytesPerClientMean, whole.bytesPerClientMean)
        XCTAssertEqual(resumed.bytesPerClientMax, whole.bytesPerClientMax)
        XCTAssertEqual(store.records.map(\.clientBytesUp), wholeStore.records.map(\.clientBytesUp))
        assertSummary(resumed, matches: store.records)
    }

    func testAnUnreadableReportLeavesThatRankUnmeasuredAndTheRunGoesOn() throws {
        let settings = TinyRun.settings(rounds: 4, clientsPerRound: 2)
        let corpus = try TinyRun.corpus()
        let reportTag = MessageTag.rankReport(clientCount: corpus.clients.count)
        let (store, _) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus) { rank, transport in
            guard rank == 2 else { return }
            transport.tamper = { _, tag, bytes in tag == reportTag ? Array(bytes.prefix(7)) : bytes }
        }
        XCTAssertEqual(store.records.map(\.round), [1, 2, 3, 4])
        for record in store.records {
            XCTAssertEqual(record.rankPeakRSS[2], -1)
            XCTAssertTrue(record.rankComputeSeconds[2].isNaN && record.rankWaitSeconds[2].isNaN)
            XCTAssertGreaterThan(record.rankPeakRSS[1], 5_000_000)
            XCTAssertEqual(record.rankComputeSeconds[1] + record.rankCommSeconds[1] + record.rankWaitSeconds[1],
                           record.seconds, accuracy: 1e-9)
        }
    }

    func testEveryMessageHasItsOwnTagAndReportsRoundTrip() throws {
        for clients in [1, 4, 43, 16000] {
            let uploads = (0..<clients).flatMap { [UploadTag.header(client: $0), UploadTag.body(client: $0)] }
            let tags = [MessageTag.setupAgreement] + uploads + [MessageTag.rankReport(clientCount: clients)]
            XCTAssertEqual(Set(tags).count, tags.count, "\(clients) clients")
            XCTAssertEqual(tags.max(), MessageTag.rankReport(clientCount: clients), "the reports' tag lies above every upload's")
        }
        let report = RankReport(rank: 3, round: 17, peakRSS: 123_456_789, compute: 1.5, communication: 0.25)
        XCTAssertEqual(report.encoded().count, RankReport.encodedSize)
        XCTAssertEqual(try RankReport.decode(report.encoded()), report)
        XCTAssertThrowsError(try RankReport.decode(Array(report.encoded().dropLast())))
    }

    func testPeakRSSIsTheKernelsHighWaterMark() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("status-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t  1000 kB\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(ProcessMetrics.vmHWMBytes(status: path), 2048 * 1024)
        XCTAssertNil(ProcessMetrics.vmHWMBytes(status: path + ".missing"))

        let before = ProcessMetrics.peakRSSBytes()
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let rssLine = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let rss = try XCTUnwrap(Int(rssLine.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])) * 1024
        XCTAssertGreaterThanOrEqual(before, rss)
        // Touching 64 MB more than the process ever held must raise the high-water mark by about that.
        let size = 64 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: before + size, alignment: 4096)
        defer { block.deallocate() }
        memset(block, 1, before + size)
        XCTAssertEqual(block.load(fromByteOffset: before + size - 1, as: UInt8.self), 1)
        XCTAssertGreaterThanOrEqual(ProcessMetrics.peakRSSBytes(), before + size / 2)
    }

    private func assertSummary(_ summary: RunSummary, matches records: [RoundRecord], file: StaticString = #filePath, line: UInt = #line) {
        var perClient: [Int: Int] = [:]
        for record in records {
            for (index, client) in record.clients.enumerated() {
                perClient[client, default: 0] += record.clientBytesDown[index] + record.clientBytesUp[index]
            }
        }
        XCTAssertFalse(perClient.isEmpty, file: file, line: line)
        XCTAssertEqual(summary.bytesPerClientMax, perClient.values.max(), file: file, line: line)
        XCTAssertEqual(summary.bytesPerClientMean, Double(perClient.values.reduce(0, +)) / Double(perClient.count),
                       accuracy: 1e-6, file: file, line: line)
        XCTAssertEqual(summary.peakServerRSS, records.map { $0.rankPeakRSS[0] }.max(), file: file, line: line)
        XCTAssertGreaterThan(summary.peakClientRSS, 5_000_000, file: file, line: line)
    }
}
