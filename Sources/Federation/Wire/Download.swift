import GPT

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
        writer.write(header.target.wireValue)
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
        let target = try RoundTarget(wireValue: try reader.read(Int32.self))
        let finished = try reader.read(UInt8.self) == 1
        let learningRate = try reader.readFloat()
        let clientCount = Int(try reader.read(UInt32.self))
        guard clientCount <= reader.remaining / 4 else { throw WireError.badValue("client count \(clientCount)") }
        let clients = try (0..<clientCount).map { _ in Int(try reader.read(UInt32.self)) }
        let header = RoundHeader(round: round, target: target, clients: clients, learningRate: learningRate, finished: finished)
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
