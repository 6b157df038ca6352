/// The one-rank transport: broadcasts are no-ops and messages to self are queued in memory.
public final class LocalTransport: Transport {
    public let rank = 0
    public let size = 1
    private var mailbox: [Int: [[UInt8]]] = [:]

    public init() {}

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        guard root == 0 else { throw TransportError.noPeer(rank: root, size: 1) }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        guard destination == 0 else { throw TransportError.noPeer(rank: destination, size: 1) }
        mailbox[tag, default: []].append(Array(bytes))
    }

    public func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        guard source == 0 else { throw TransportError.noPeer(rank: source, size: 1) }
        guard var queue = mailbox[tag], !queue.isEmpty else {
            throw TransportError.failed(call: "receive: no message queued for tag \(tag) in a one-rank job", code: -1)
        }
        let message = queue.removeFirst()
        mailbox[tag] = queue
        guard message.count <= maxBytes else {
            throw TransportError.oversized(source: source, tag: tag, bytes: message.count, limit: maxBytes)
        }
        return message
    }

    public func barrier() throws {}
}
