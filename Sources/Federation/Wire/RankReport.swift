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
