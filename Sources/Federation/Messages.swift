import GPT

/// What rank 0 tells every rank at the start of a round, ahead of the download.
public struct RoundHeader: Equatable, Sendable {
    /// 1-based; 0 with `finished` set tells the client ranks to stop.
    public var round: Int
    public var block: Int
    public var clients: [Int]
    public var learningRate: Float
    public var finished: Bool

    static let magic: UInt32 = 0x4643_4244 // "FCBD"

    public static func stop() -> RoundHeader {
        RoundHeader(round: 0, block: 0, clients: [], learningRate: 0, finished: true)
    }
}

/// The round broadcast: the header, then every block changed since the previous broadcast, exact fp32.
public struct Download: Equatable, Sendable {
    public var header: RoundHeader
    /// Blocks carried by this download, ascending.
    public var blocks: [Int]

    /// Serialises the header and the listed blocks of `parameters` into one buffer.
    public static func encode(header: RoundHeader, blocks: [Int], parameters: ParameterBuffer) -> [UInt8] {
        let payload = blocks.reduce(0) { $0 + parameters.layout.blocks[$1].range.count * 4 + 16 }
        var writer = ByteWriter(capacity: 64 + 4 * header.clients.count + payload)
        writer.write(RoundHeader.magic)
        writer.write(UInt64(header.round))
        writer.write(UInt32(header.block))
        writer.write(UInt8(header.finished ? 1 : 0))
        writer.write(header.learningRate)
        writer.write(UInt32(header.clients.count))
        for client in header.clients { writer.write(UInt32(client)) }
        writer.write(UInt32(blocks.count))
        for block in blocks {
            let slice = parameters.block(block)
            writer.write(UInt32(block))
            writer.write(UInt64(slice.count))
            writer.write(floats: UnsafeBufferPointer(slice))
        }
        return writer.bytes
    }

    /// Decodes a broadcast, writing the blocks it carries into `parameters`.
    public static func apply(_ bytes: [UInt8], to parameters: ParameterBuffer?) throws -> Download {
        var reader = ByteReader(bytes)
        guard try reader.read(UInt32.self) == RoundHeader.magic else { throw WireError.badValue("round header magic") }
        let round = Int(try reader.read(UInt64.self))
        let block = Int(try reader.read(UInt32.self))
        let finished = try reader.read(UInt8.self) == 1
        let learningRate = try reader.readFloat()
        let clientCount = Int(try reader.read(UInt32.self))
        guard clientCount <= reader.remaining / 4 else { throw WireError.badValue("client count \(clientCount)") }
        let clients = try (0..<clientCount).map { _ in Int(try reader.read(UInt32.self)) }
        let header = RoundHeader(round: round, block: block, clients: clients, learningRate: learningRate, finished: finished)
        let blockCount = Int(try reader.read(UInt32.self))
        var blocks: [Int] = []
        for _ in 0..<blockCount {
            let index = Int(try reader.read(UInt32.self))
            let count = Int(try reader.read(UInt64.self))
            guard let parameters else { throw WireError.badValue("download carries blocks but this rank holds no model") }
            guard index < parameters.layout.blockCount, parameters.layout.blocks[index].range.count == count else {
                throw WireError.badValue("block \(index) with \(count) values")
            }
            try reader.readFloats(into: parameters.block(index))
            blocks.append(index)
        }
        return Download(header: header, blocks: blocks)
    }
}

/// What a client sends ahead of its trained block.
public struct UploadHeader: Equatable, Sendable {
    public var round: Int
    public var client: Int
    public var block: Int
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

    public init(round: Int, client: Int, block: Int, sampleCount: Int, loss: Float, firstLoss: Float, lastLoss: Float,
                bodyBytes: Int) {
        self.round = round; self.client = client; self.block = block; self.sampleCount = sampleCount
        self.loss = loss; self.firstLoss = firstLoss; self.lastLoss = lastLoss; self.bodyBytes = bodyBytes
    }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: UploadHeader.encodedSize)
        writer.write(UploadHeader.magic)
        writer.write(UInt64(round))
        writer.write(UInt32(client))
        writer.write(UInt32(block))
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
            block: Int(try reader.read(UInt32.self)), sampleCount: Int(try reader.read(UInt64.self)),
            loss: try reader.readFloat(), firstLoss: try reader.readFloat(), lastLoss: try reader.readFloat(),
            bodyBytes: Int(try reader.read(UInt64.self)))
    }
}

/// MPI tags for a client's upload: the header and the body travel as two messages, so the
/// body can be sent straight from the parameter buffer with no copy.
enum UploadTag {
    static func header(client: Int) -> Int { 2 * client }
    static func body(client: Int) -> Int { 2 * client + 1 }
}
