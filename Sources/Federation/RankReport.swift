/// What a client rank tells rank 0 after each round: its peak memory so far and how it spent
/// the round. Rank 0 stores these in the round's `RoundRecord` (`rankPeakRSS` and the times).
public struct RankReport: Equatable, Sendable {
    public var rank: Int
    public var round: Int
    /// Peak resident set size of the rank's process so far (`VmHWM`), in bytes.
    public var peakRSS: Int
    /// Seconds of local training (and anything else that is neither communication nor waiting).
    public var compute: Double
    /// Seconds decoding the broadcast and sending uploads.
    public var communication: Double

    static let magic: UInt32 = 0x4643_5250 // "FCRP"
    /// Bytes of an encoded report.
    public static let encodedSize = 4 + 4 + 8 + 8 + 8 + 8

    public init(rank: Int, round: Int, peakRSS: Int, compute: Double, communication: Double) {
        self.rank = rank; self.round = round; self.peakRSS = peakRSS
        self.compute = compute; self.communication = communication
    }

    /// The report's tag: 2 × the number of clients, the first tag above every upload tag
    /// (client c uploads on 2c and 2c + 1), so reports never match an upload.
    public static func tag(clientCount: Int) -> Int { 2 * clientCount }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.encodedSize)
        writer.write(Self.magic)
        writer.write(UInt32(rank))
        writer.write(UInt64(round))
        writer.write(Int64(peakRSS))
        writer.write(compute)
        writer.write(communication)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> RankReport {
        guard bytes.count == encodedSize else { throw WireError.badValue("rank report of \(bytes.count) bytes") }
        var reader = ByteReader(bytes)
        guard try reader.read(UInt32.self) == magic else { throw WireError.badValue("rank report magic") }
        return RankReport(rank: Int(try reader.read(UInt32.self)), round: Int(try reader.read(UInt64.self)),
                          peakRSS: Int(try reader.read(Int64.self)), compute: try reader.readDouble(),
                          communication: try reader.readDouble())
    }
}

/// The per-rank measurement of a round: client ranks send reports, rank 0 collects them and
/// fills the round's record.
enum RoundMeasurement {
    /// On a client rank, after its uploads: closes the round's lap and sends the report. The
    /// report goes on the untimed transport and the lap restarts after it, so the report's own
    /// send is charged to no round.
    static func report(round: Int, transport: TimedTransport, clientCount: Int) throws {
        let times = transport.clock.lap()
        let report = RankReport(rank: transport.rank, round: round, peakRSS: ProcessMetrics.peakRSSBytes(),
                                compute: times.compute, communication: times.communication)
        try report.encoded().withUnsafeBytes {
            try transport.inner.send($0, to: 0, tag: RankReport.tag(clientCount: clientCount))
        }
        transport.clock.lap()
    }

    /// On rank 0, after the round's uploads: one report from every other rank, or nil for a
    /// report that does not decode or names another rank or round (the rank's figures are then
    /// recorded as not measured, and the run goes on).
    static func collect(round: Int, transport: Transport, clientCount: Int) -> [RankReport?] {
        (1..<max(transport.size, 1)).map { rank in
            let bytes = try? transport.receive(from: rank, tag: RankReport.tag(clientCount: clientCount),
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
    static func fill(_ record: inout RoundRecord, server: RankTimes, reports: [RankReport?]) {
        let seconds = record.seconds
        record.rankPeakRSS = [ProcessMetrics.peakRSSBytes()] + reports.map { $0?.peakRSS ?? -1 }
        record.rankComputeSeconds = [max(0, seconds - server.communication - server.waiting)]
            + reports.map { $0?.compute ?? .nan }
        record.rankCommSeconds = [server.communication] + reports.map { $0?.communication ?? .nan }
        record.rankWaitSeconds = [server.waiting] + reports.map { report in
            report.map { max(0, seconds - $0.compute - $0.communication) } ?? .nan
        }
    }
}
