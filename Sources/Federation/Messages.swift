import GPT

/// What rank 0 tells every rank at the start of a round, ahead of the download.
public struct RoundHeader: Equatable, Sendable {
    /// 1-based; 0 with `finished` set tells the client ranks to stop.
    public var round: Int
    /// The block the round trains, or `RoundHeader.everyBlock` when it trains every parameter
    /// (fedavg, centralized) or the LoRA adapters (fedlora).
    public var block: Int
    public var clients: [Int]
    public var learningRate: Float
    public var finished: Bool

    static let magic: UInt32 = 0x4643_4244 // "FCBD"
    /// `block` of a round that trains more than one block.
    public static let everyBlock = -1

    public static func stop() -> RoundHeader {
        RoundHeader(round: 0, block: 0, clients: [], learningRate: 0, finished: true)
    }
}

/// The round broadcast: the header, then each unit the client ranks need refreshed, encoded as
/// the server chose (trained units exact fp32, frozen ones with the download codec).
public struct Download: Equatable, Sendable {
    public var header: RoundHeader
    /// Units carried by this download, in the order sent, with their encodings.
    public var units: [Int]
    public var encodings: [BlockEncoding]

    /// Wire bytes ahead of each unit's payload: unit index, codec kind, codec parameter.
    public static let unitOverhead = 4 + 1 + 8

    /// Encoded size of unit `unit` of `model` sent as `encoding`, overhead included.
    public static func encodedSize(unit: Int, of model: FederatedModel, as encoding: BlockEncoding) -> Int {
        unitOverhead + encoding.codec.encodedSize(model.rows(unit))
    }

    /// Serialises the header and the listed units of `model` into one buffer.
    public static func encode(header: RoundHeader, units: [(unit: Int, encoding: BlockEncoding)], model: FederatedModel) -> [UInt8] {
        let payload = units.reduce(0) { $0 + encodedSize(unit: $1.unit, of: model, as: $1.encoding) }
        var writer = ByteWriter(capacity: 64 + 4 * header.clients.count + payload)
        write(header, to: &writer)
        writer.write(UInt32(units.count))
        for (unit, encoding) in units {
            writer.write(UInt32(unit))
            writer.write(encoding.wireKind)
            writer.write(encoding.wireParameter)
            writer.write(bytes: encoding.codec.encode(values: UnsafeBufferPointer(model.unit(unit)), rows: model.rows(unit)))
        }
        return writer.bytes
    }

    /// The broadcast that tells the client ranks to stop: the stop header and no units.
    public static func encodeStop() -> [UInt8] {
        var writer = ByteWriter()
        write(.stop(), to: &writer)
        writer.write(UInt32(0))
        return writer.bytes
    }

    private static func write(_ header: RoundHeader, to writer: inout ByteWriter) {
        writer.write(RoundHeader.magic)
        writer.write(UInt64(header.round))
        writer.write(Int32(header.block))
        writer.write(UInt8(header.finished ? 1 : 0))
        writer.write(header.learningRate)
        writer.write(UInt32(header.clients.count))
        for client in header.clients { writer.write(UInt32(client)) }
    }

    /// Decodes a broadcast, writing the units it carries into `model`.
    public static func apply(_ bytes: [UInt8], to model: FederatedModel?) throws -> Download {
        var reader = ByteReader(bytes)
        guard try reader.read(UInt32.self) == RoundHeader.magic else { throw WireError.badValue("round header magic") }
        let round = Int(try reader.read(UInt64.self))
        let block = Int(try reader.read(Int32.self))
        let finished = try reader.read(UInt8.self) == 1
        let learningRate = try reader.readFloat()
        let clientCount = Int(try reader.read(UInt32.self))
        guard clientCount <= reader.remaining / 4 else { throw WireError.badValue("client count \(clientCount)") }
        let clients = try (0..<clientCount).map { _ in Int(try reader.read(UInt32.self)) }
        let header = RoundHeader(round: round, block: block, clients: clients, learningRate: learningRate, finished: finished)
        var download = Download(header: header, units: [], encodings: [])
        for _ in 0..<Int(try reader.read(UInt32.self)) {
            let unit = Int(try reader.read(UInt32.self))
            let encoding = try BlockEncoding(wireKind: try reader.read(UInt8.self), parameter: try reader.readDouble())
            guard let model else { throw WireError.badValue("download carries units but this rank holds no model") }
            guard unit < model.unitCount else { throw WireError.badValue("unit \(unit) of \(model.unitCount)") }
            let codec = encoding.codec
            let size = codec.encodedSize(model.rows(unit))
            try reader.withBytes(size) { try codec.decode($0, into: model.unit(unit), rows: model.rows(unit)) }
            download.units.append(unit)
            download.encodings.append(encoding)
        }
        return download
    }
}

extension BlockEncoding {
    /// One byte naming the codec family on the wire.
    var wireKind: UInt8 { UInt8(Kind.allCases.firstIndex(of: kind)!) }
    /// The codec's parameter on the wire: pruning's density, else 0.
    var wireParameter: Double {
        if case let .prune(density) = self { return density }
        return 0
    }

    init(wireKind: UInt8, parameter: Double) throws {
        guard Int(wireKind) < Kind.allCases.count else { throw WireError.badValue("codec kind \(wireKind)") }
        switch Kind.allCases[Int(wireKind)] {
        case .fp32: self = .fp32
        case .fp16: self = .fp16
        case .bf16: self = .bf16
        case .int8: self = .int8
        case .prune:
            guard parameter > 0, parameter <= 1 else { throw WireError.badValue("prune density \(parameter)") }
            self = .prune(density: parameter)
        }
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
        writer.write(Int32(block))
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
            block: Int(try reader.read(Int32.self)), sampleCount: Int(try reader.read(UInt64.self)),
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
