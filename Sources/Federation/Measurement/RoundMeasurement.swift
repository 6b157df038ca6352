/// The per-rank measurement of a round: client ranks send reports, rank 0 collects them and
/// fills the round's record.
enum RoundMeasurement {
    /// On a client rank, after its uploads: closes the round's lap and sends the report. The
    /// report goes on the untimed transport and the lap restarts after it, so the report's own
    /// send is charged to no round.
    static func report(round: Int, transport: TimedTransport, clientCount: Int, probe: ProcessProbe) throws {
        let times = transport.clock.lap()
        let report = RankReport(rank: transport.rank, round: round, peakRSS: probe.peakRSSBytes(),
                                compute: times.compute, communication: times.communication)
        try report.encoded().withUnsafeBytes {
            try transport.inner.send($0, to: 0, tag: MessageTag.rankReport(clientCount: clientCount))
        }
        transport.clock.lap()
    }

    /// On rank 0, after the round's uploads: one report from every other rank, or nil for a
    /// report that does not decode or names another rank or round (the rank's figures are then
    /// recorded as not measured, and the run goes on).
    static func collect(round: Int, transport: Transport, clientCount: Int) -> [RankReport?] {
        (1..<max(transport.size, 1)).map { rank in
            let bytes = try? transport.receive(from: rank, tag: MessageTag.rankReport(clientCount: clientCount),
                                               maxBytes: RankReport.encodedSize)
            guard let bytes, let report = try? RankReport.decode(bytes), report.rank == rank, report.round == round else {
                return nil
            }
            return report
        }
    }

    /// Fills the per-rank fields of `record` (whose `seconds` is rank 0's wall time of the round).
    /// Rank 0's compute is what the round spent outside communication and waiting; a client
    /// rank's waiting is what the round spent while that rank was neither computing nor
    /// communicating.
    static func fill(_ record: inout RoundRecord, server: RankTimes, serverPeakRSS: Int, reports: [RankReport?]) {
        let seconds = record.seconds
        record.rankPeakRSS = [serverPeakRSS] + reports.map { $0?.peakRSS ?? -1 }
        record.rankComputeSeconds = [max(0, seconds - server.communication - server.waiting)]
            + reports.map { $0?.compute ?? .nan }
        record.rankCommSeconds = [server.communication] + reports.map { $0?.communication ?? .nan }
        record.rankWaitSeconds = [server.waiting] + reports.map { report in
            report.map { max(0, seconds - $0.compute - $0.communication) } ?? .nan
        }
    }
}
