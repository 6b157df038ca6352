/// A transport that charges its calls to a `RankClock`: a broadcast is communication on its
/// root and waiting elsewhere (the rank is blocked until the root's data arrives), a send is
/// communication, and a receive or barrier is waiting.
public final class TimedTransport: Transport {
    /// The transport that moves the bytes; messages sent on it directly are not timed.
    public let inner: Transport
    public let clock: RankClock

    public init(_ inner: Transport, clock: RankClock = RankClock()) {
        self.inner = inner
        self.clock = clock
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        try clock.charge(root == rank ? .communication : .waiting) { try inner.broadcast(&bytes, root: root) }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try clock.charge(.communication) { try inner.send(bytes, to: destination, tag: tag) }
    }

    public func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        try clock.charge(.waiting) { try inner.receive(from: source, tag: tag, maxBytes: maxBytes) }
    }

    public func receive(from source: Int, tag: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try clock.charge(.waiting) { try inner.receive(from: source, tag: tag, into: buffer) }
    }

    public func barrier() throws {
        try clock.charge(.waiting) { try inner.barrier() }
    }
}
