import Federation
@testable import MPITransport
import XCTest

/// One-process tests: the test binary is an MPI singleton (rank 0 of 1). Multi-rank behaviour
/// is exercised through the real binary under `mpirun`.
final class MPITransportTests: XCTestCase {
    private func payload(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ ($0 >> 8)) }
    }

    func testInitialisesAsSingleton() throws {
        let level = try MPIRuntime.initialize()
        XCTAssertEqual(try MPIRuntime.initialize(), level, "a second initialise is a no-op")
        XCTAssertTrue(MPIRuntime.isRunning)
        XCTAssertEqual(try MPIRuntime.rank(), 0)
        XCTAssertEqual(try MPIRuntime.size(), 1)
        XCTAssertFalse(try MPIRuntime.processorName().isEmpty)
        XCTAssertTrue(MPIRuntime.libraryVersion().contains("MPI"), MPIRuntime.libraryVersion())
        let transport = try MPITransport()
        XCTAssertEqual(transport.rank, 0)
        XCTAssertEqual(transport.size, 1)
        XCTAssertGreaterThanOrEqual(transport.maxTag, 32767)
    }

    func testBroadcastToSelfKeepsPayload() throws {
        let transport = try MPITransport()
        for count in [0, 1, 1000, 3 << 20] {
            let original = payload(count)
            var bytes = original
            try transport.broadcast(&bytes, root: 0)
            XCTAssertEqual(bytes, original, "\(count) bytes")
        }
    }

    func testBroadcastSplitsIntoPieces() throws {
        let transport = try MPITransport(policy: .standard, pieceBytes: 1000)
        for count in [999, 1000, 2500] {
            let original = payload(count)
            var bytes = original
            try transport.broadcast(&bytes, root: 0)
            XCTAssertEqual(bytes, original, "\(count) bytes")
        }
    }

    func testSendToSelfThenReceive() throws {
        let transport = try MPITransport()
        // 0 bytes, small (eager) and 8 MiB (over the eager limit: needs the receive posted).
        for (tag, count) in [(0, 0), (1, 100), (2, 8 << 20)] {
            let sent = payload(count, seed: UInt8(tag))
            try sent.withUnsafeBytes { try transport.send($0, to: 0, tag: tag) }
            let received = try transport.receive(from: 0, tag: tag, maxBytes: 16 << 20)
            XCTAssertEqual(received, sent, "\(count) bytes")
        }
    }

    func testMessagesAreMatchedByTag() throws {
        let transport = try MPITransport()
        let first = payload(10, seed: 1), second = payload(20, seed: 2)
        try first.withUnsafeBytes { try transport.send($0, to: 0, tag: 7) }
        try second.withUnsafeBytes { try transport.send($0, to: 0, tag: 8) }
        XCTAssertEqual(try transport.receive(from: 0, tag: 8, maxBytes: 100), second)
        XCTAssertEqual(try transport.receive(from: 0, tag: 7, maxBytes: 100), first)
    }

    func testSendSplitsIntoPieces() throws {
        let transport = try MPITransport(policy: .standard, pieceBytes: 1000)
        // Exactly one piece, a multiple of the piece size (an empty last piece follows), and a tail.
        for (tag, count) in [(10, 0), (11, 999), (12, 1000), (13, 2000), (14, 2500)] {
            let sent = payload(count, seed: UInt8(tag))
            try sent.withUnsafeBytes { try transport.send($0, to: 0, tag: tag) }
            XCTAssertEqual(try transport.receive(from: 0, tag: tag, maxBytes: 10_000), sent, "\(count) bytes")
        }
    }

    func testReceiveIntoABufferTakesPiecesInPlaceAndRefusesWhatDoesNotFit() throws {
        let transport = try MPITransport(policy: .standard, pieceBytes: 1000)
        for (tag, count) in [(20, 0), (21, 999), (22, 1000), (23, 2500)] {
            let sent = payload(count, seed: UInt8(tag))
            try sent.withUnsafeBytes { try transport.send($0, to: 0, tag: tag) }
            var buffer = [UInt8](repeating: 0xEE, count: 3000)
            let received = try buffer.withUnsafeMutableBytes { try transport.receive(from: 0, tag: tag, into: $0) }
            XCTAssertEqual(received, count)
            XCTAssertEqual(Array(buffer.prefix(count)), sent, "\(count) bytes")
            XCTAssertEqual(Set(buffer.dropFirst(count)), [0xEE], "bytes past the message are untouched")
        }
        let big = payload(2500, seed: 3)
        try big.withUnsafeBytes { try transport.send($0, to: 0, tag: 24) }
        var short = [UInt8](repeating: 0, count: 1500)
        XCTAssertThrowsError(try short.withUnsafeMutableBytes { try transport.receive(from: 0, tag: 24, into: $0) }) { error in
            XCTAssertEqual(error as? TransportError, .oversized(source: 0, tag: 24, bytes: 2500, limit: 1500))
        }
        let small = payload(10, seed: 4)
        try small.withUnsafeBytes { try transport.send($0, to: 0, tag: 24) }
        XCTAssertEqual(try transport.receive(from: 0, tag: 24, maxBytes: 100), small)
    }

    func testOversizedMessageIsDrainedAndRefused() throws {
        let transport = try MPITransport()
        for count in [5000, 8 << 20] {
            let big = payload(count)
            try big.withUnsafeBytes { try transport.send($0, to: 0, tag: 3) }
            XCTAssertThrowsError(try transport.receive(from: 0, tag: 3, maxBytes: 100)) { error in
                XCTAssertEqual(error as? TransportError, .oversized(source: 0, tag: 3, bytes: count, limit: 100))
            }
            // The refused message is gone: the next one on the same tag comes through.
            let small = payload(10, seed: 9)
            try small.withUnsafeBytes { try transport.send($0, to: 0, tag: 3) }
            XCTAssertEqual(try transport.receive(from: 0, tag: 3, maxBytes: 100), small)
        }
    }

    func testOversizedSplitMessageIsDrainedAndRefused() throws {
        let transport = try MPITransport(policy: .standard, pieceBytes: 1000)
        let big = payload(3500)
        try big.withUnsafeBytes { try transport.send($0, to: 0, tag: 4) }
        XCTAssertThrowsError(try transport.receive(from: 0, tag: 4, maxBytes: 1500)) { error in
            XCTAssertEqual(error as? TransportError, .oversized(source: 0, tag: 4, bytes: 3500, limit: 1500))
        }
        let small = payload(10, seed: 5)
        try small.withUnsafeBytes { try transport.send($0, to: 0, tag: 4) }
        XCTAssertEqual(try transport.receive(from: 0, tag: 4, maxBytes: 100), small)
    }

    func testBarrier() throws {
        let transport = try MPITransport()
        try transport.barrier()
        try transport.barrier()
    }

    func testRefusesRanksAndTagsOutsideTheJob() throws {
        let transport = try MPITransport()
        let bytes: [UInt8] = [1, 2, 3]
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try transport.send($0, to: 1, tag: 0) }) { error in
            XCTAssertEqual(error as? TransportError, .noPeer(rank: 1, size: 1))
        }
        XCTAssertThrowsError(try transport.receive(from: -1, tag: 0, maxBytes: 10)) { error in
            XCTAssertEqual(error as? TransportError, .noPeer(rank: -1, size: 1))
        }
        var buffer = bytes
        XCTAssertThrowsError(try transport.broadcast(&buffer, root: 2))
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try transport.send($0, to: 0, tag: -1) }) { error in
            guard case .failed = error as? TransportError else { return XCTFail("\(error)") }
        }
    }

    func testSelfSendOutlivesItsTransport() throws {
        // A transport that goes away with a large send to self not yet received must neither
        // hang nor free the buffer MPI still reads: the message stays queued for this rank.
        let big = payload(4 << 20)
        do {
            let transport = try MPITransport()
            try big.withUnsafeBytes { try transport.send($0, to: 0, tag: 99) }
        }
        let transport = try MPITransport()
        XCTAssertEqual(try transport.receive(from: 0, tag: 99, maxBytes: 8 << 20), big)
    }

    func testSilentPeerIsNamedWithItsHostOnceTheLimitPasses() throws {
        let transport = try MPITransport()
        XCTAssertEqual(transport.hostNames, [try MPIRuntime.processorName()])
        final class Seen: @unchecked Sendable { var errors: [TransportError] = [] }
        let seen = Seen()
        transport.silenceLimit = MPISilenceLimit(seconds: 0.2) { seen.errors.append($0) }
        defer { transport.silenceLimit = nil }
        // Nobody sends tag 77: the receive must give up after the limit instead of waiting for ever.
        XCTAssertThrowsError(try transport.receive(from: 0, tag: 77, maxBytes: 16)) { error in
            guard case let .silent(rank, host, seconds, _) = error as? TransportError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(rank, 0)
            XCTAssertEqual(host, transport.hostNames[0])
            XCTAssertEqual(seconds, 0.2)
            XCTAssertTrue("\(error)".hasPrefix("rank 0 on host \(transport.hostNames[0]) went silent: no message (tag 77)"), "\(error)")
        }
        XCTAssertEqual(seen.errors.count, 1, "the handler runs once, before the error is thrown")
        // Within the limit nothing changes: a message that is there is received.
        try [UInt8](repeating: 5, count: 3).withUnsafeBytes { try transport.send($0, to: 0, tag: 78) }
        XCTAssertEqual(try transport.receive(from: 0, tag: 78, maxBytes: 16), [5, 5, 5])
    }
}
