import Federation
import Foundation

/// An in-memory transport for P ranks played by P threads of one process, so multi-rank
/// behaviour of the algorithm can be tested without MPI.
final class ThreadedHub: @unchecked Sendable {
    private let condition = NSCondition()
    private var mailboxes: [Key: [[UInt8]]] = [:]
    private var broadcasts: [[UInt8]] = []
    private var barrierCount = 0
    private var barrierGeneration = 0
    let size: Int

    struct Key: Hashable { let source: Int; let destination: Int; let tag: Int }

    init(size: Int) { self.size = size }

    func transports() -> [ThreadedTransport] { (0..<size).map { ThreadedTransport(hub: self, rank: $0) } }

    func post(_ bytes: [UInt8], key: Key) {
        condition.lock(); defer { condition.unlock() }
        mailboxes[key, default: []].append(bytes)
        condition.broadcast()
    }

    func take(key: Key) -> [UInt8] {
        condition.lock(); defer { condition.unlock() }
        while (mailboxes[key] ?? []).isEmpty { condition.wait() }
        return mailboxes[key]!.removeFirst()
    }

    func publish(_ bytes: [UInt8], sequence: Int) {
        condition.lock(); defer { condition.unlock() }
        precondition(broadcasts.count == sequence)
        broadcasts.append(bytes)
        condition.broadcast()
    }

    func broadcast(sequence: Int) -> [UInt8] {
        condition.lock(); defer { condition.unlock() }
        while broadcasts.count <= sequence { condition.wait() }
        return broadcasts[sequence]
    }

    func barrier() {
        condition.lock(); defer { condition.unlock() }
        let generation = barrierGeneration
        barrierCount += 1
        if barrierCount == size {
            barrierCount = 0; barrierGeneration += 1; condition.broadcast()
        } else {
            while generation == barrierGeneration { condition.wait() }
        }
    }
}

final class ThreadedTransport: Transport, @unchecked Sendable {
    let hub: ThreadedHub
    let rank: Int
    var size: Int { hub.size }
    private var broadcastsSeen = 0
    /// Lets a test corrupt what this rank sends: (destination, tag, bytes) -> bytes.
    var tamper: ((Int, Int, [UInt8]) -> [UInt8])?

    init(hub: ThreadedHub, rank: Int) { self.hub = hub; self.rank = rank }

    func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        if rank == root { hub.publish(bytes, sequence: broadcastsSeen) } else { bytes = hub.broadcast(sequence: broadcastsSeen) }
        broadcastsSeen += 1
    }

    func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        var message = Array(bytes)
        if let tamper { message = tamper(destination, tag, message) }
        hub.post(message, key: .init(source: rank, destination: destination, tag: tag))
    }

    func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        let message = hub.take(key: .init(source: source, destination: rank, tag: tag))
        guard message.count <= maxBytes else {
            throw TransportError.oversized(source: source, tag: tag, bytes: message.count, limit: maxBytes)
        }
        return message
    }

    func barrier() throws { hub.barrier() }
}
