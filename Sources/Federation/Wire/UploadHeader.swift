/// What a client sends ahead of its trained units.
public struct UploadHeader: Equatable, Sendable {
    public var round: Int
    public var client: Int
    /// What the client trained: the round's target.
    public var target: RoundTarget
    /// Training tokens the client holds: its weight in the aggregate.
    public var sampleCount: Int
    /// Mean training loss over the client's local steps.
    public var loss: Float
    /// Loss at the client's first and last local step.
    public var firstLoss: Float
    public var lastLoss: Float
    /// Length of the block body that follows, in bytes.
    public var bodyBytes: Int

    static let magic: UInt32 = 0x4643_5550 // "FCUP"
    /// Bytes of an encoded upload header.
    public static let encodedSize = 4 + 8 + 4 + 4 + 8 + 4 + 4 + 4 + 8

    public init(round: Int, client: Int, target: RoundTarget, sampleCount: Int, loss: Float, firstLoss: Float, lastLoss: Float,
                bodyBytes: Int) {
        self.round = round; self.client = client; self.target = target; self.sampleCount = sampleCount
        self.loss = loss; self.firstLoss = firstLoss; self.lastLoss = lastLoss; self.bodyBytes = bodyBytes
    }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: UploadHeader.encodedSize)
        writer.write(UploadHeader.magic)
        writer.write(UInt64(round))
        writer.write(UInt32(client))
        writer.write(target.wireValue)
        writer.write(UInt64(sampleCount))
        writer.write(loss)
        writer.write(firstLoss)
        writer.write(lastLoss)
        writer.write(UInt64(bodyBytes))
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> UploadHeader {
        guard bytes.count == encodedSize else { throw WireError.badValue("upload header of \(bytes.count) bytes") }
        var reader = ByteReader(bytes)
        guard try reader.read(UInt32.self) == magic else { throw WireError.badValue("upload header magic") }
        return UploadHeader(
            round: Int(try reader.read(UInt64.self)), client: Int(try reader.read(UInt32.self)),
            target: try RoundTarget(wireValue: try reader.read(Int32.self)), sampleCount: Int(try reader.read(UInt64.self)),
            loss: try reader.readFloat(), firstLoss: try reader.readFloat(), lastLoss: try reader.readFloat(),
            bodyBytes: Int(try reader.read(UInt64.self)))
    }
}
