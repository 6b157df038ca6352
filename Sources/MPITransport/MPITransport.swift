import CMPI
import Federation
import Foundation

/// How a waiting rank sleeps between polls of an unfinished MPI request.
///
/// Open MPI's blocking calls busy-poll a core. Every wait here is instead an `MPI_Test` (or
/// `MPI_Improbe`) loop that sleeps between polls, doubling the sleep from `firstSleep` up to a
/// cap. While a rank waits for a peer to start something (the header of a broadcast, a message,
/// a barrier), the cap is `idleSleepCap`; once data is moving or about to (the body of a
/// broadcast whose length has arrived, a matched message being received, any send), the
/// shorter `transferSleepCap` keeps transfers that need progress calls on this rank (TCP
/// between nodes) from stalling. Sends count as transfers from the start: the sender cannot see
/// when its receiver matches, and over TCP a large send moves only a socket buffer's worth
/// (a few MB) per progress call, so the 2 ms idle cap held a 28 MB upload between two hosts to
/// 28 % of plain MPI's bandwidth (docs/PERFORMANCE.md, "Speed over the network").
public struct MPIWaitPolicy: Sendable, Equatable {
    /// First sleep after an unfinished poll, in microseconds.
    public var firstSleep: UInt32
    /// Longest sleep while waiting for a peer, in microseconds.
    public var idleSleepCap: UInt32
    /// Longest sleep while a transfer is under way, in microseconds.
    public var transferSleepCap: UInt32
    /// Microseconds a wait polls without sleeping before its first sleep (`MPIBackoff`).
    public var spin: UInt32

    public init(firstSleep: UInt32 = 20, idleSleepCap: UInt32 = 2000, transferSleepCap: UInt32 = 200, spin: UInt32 = 200) {
        self.spin = spin
        self.firstSleep = max(1, firstSleep)
        self.idleSleepCap = max(self.firstSleep, idleSleepCap)
        self.transferSleepCap = max(self.firstSleep, transferSleepCap)
    }

    public static let standard = MPIWaitPolicy()
}

/// `Transport` over `MPI_COMM_WORLD`, with waits that sleep instead of spinning.
///
/// Message sizes: one MPI message carries at most `Int32.max` bytes, so payloads are moved in
/// pieces of at most `pieceBytes` (2^30) bytes. A broadcast sends its 8-byte length first,
/// then `ceil(length / pieceBytes)` pieces, to each rank (MPITransport+Broadcast.swift). A
/// point-to-point payload of n bytes is sent as `n / pieceBytes` full pieces followed by one shorter piece (possibly empty), all with the
/// same tag; payloads under 2^30 bytes, the usual case, are exactly one message. Any length
/// an `Int` can hold is supported; payloads of 2^30 bytes and more are assembled on the
/// receiver with one extra copy.
///
/// Sends to the own rank are copied into a buffer that the transport keeps until the matching
/// receive has completed, so that a rank can send to itself and then receive without deadlock.
///
/// Not thread-safe: use one instance from one thread at a time (MPI runs at
/// `MPI_THREAD_SERIALIZED`).
public final class MPITransport: Transport {
    public let rank: Int
    public let size: Int
    public let policy: MPIWaitPolicy
    /// The largest tag MPI accepts (`MPI_TAG_UB`, at least 32767).
    public let maxTag: Int
    /// The largest MPI message this transport sends; longer payloads are split.
    public let pieceBytes: Int
    /// Each rank's host name, by rank, gathered at start for messages about a silent rank.
    public let hostNames: [String]
    /// How long any one wait may last (nil: for ever); see `MPISilenceLimit`.
    public var silenceLimit: MPISilenceLimit?

    private let comm: MPI_Comm
    /// A duplicate of `MPI_COMM_WORLD` that carries only broadcasts, so their messages never
    /// match a point-to-point receive of the same tag.
    let broadcastComm: MPI_Comm?
    private var selfSends: [PendingSelfSend] = []
    /// Where refused messages are received, chunk over chunk.
    private let drainChunkBytes = 1 << 16
    private let drainScratch: UnsafeMutableRawBufferPointer
    /// `drainChunkBytes` bytes with extent 0: successive elements overlap.
    private let drainType: MPI_Datatype?

    private final class PendingSelfSend {
        var requests: [MPI_Request?]
        let buffer: UnsafeMutableRawBufferPointer
        init(requests: [MPI_Request?], buffer: UnsafeMutableRawBufferPointer) {
            self.requests = requests
            self.buffer = buffer
        }
    }

    /// Starts MPI if needed and wraps `MPI_COMM_WORLD`.
    public convenience init(policy: MPIWaitPolicy = .standard) throws {
        try self.init(policy: policy, pieceBytes: 1 << 30)
    }

    /// `pieceBytes` below 2^30 is for tests of the splitting logic.
    init(policy: MPIWaitPolicy, pieceBytes: Int) throws {
        precondition(pieceBytes > 0 && pieceBytes <= Int(Int32.max))
        try MPIRuntime.initialize()
        comm = cmpi_comm_world()
        self.policy = policy
        self.pieceBytes = pieceBytes
        var value: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(comm, &value), "MPI_Comm_rank")
        rank = Int(value)
        try MPIRuntime.check(MPI_Comm_size(comm, &value), "MPI_Comm_size")
        size = Int(value)
        var attribute: UnsafeMutableRawPointer?
        var found: Int32 = 0
        try MPIRuntime.check(MPI_Comm_get_attr(comm, cmpi_tag_ub_keyval(), &attribute, &found), "MPI_Comm_get_attr(MPI_TAG_UB)")
        if found != 0, let attribute {
            maxTag = Int(attribute.load(as: Int32.self))
        } else {
            maxTag = 32767
        }
        var chunk: MPI_Datatype? = nil
        var overlapping: MPI_Datatype? = nil
        try MPIRuntime.check(MPI_Type_contiguous(Int32(drainChunkBytes), cmpi_byte(), &chunk), "MPI_Type_contiguous")
        try MPIRuntime.check(MPI_Type_create_resized(chunk, 0, 0, &overlapping), "MPI_Type_create_resized")
        try MPIRuntime.check(MPI_Type_commit(&overlapping), "MPI_Type_commit")
        MPI_Type_free(&chunk)
        drainType = overlapping
        drainScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: drainChunkBytes, alignment: 64)
        hostNames = try MPIRuntime.gatherProcessorNames(size: size)
        var duplicate: MPI_Comm? = nil
        try MPIRuntime.check(MPI_Comm_dup(comm, &duplicate), "MPI_Comm_dup")
        broadcastComm = duplicate
    }

    deinit {
        drainScratch.deallocate()
        guard MPIRuntime.isRunning else { return }  // MPI already finished: leak the send buffers
        var type = drainType
        MPI_Type_free(&type)
        var broadcasts = broadcastComm
        MPI_Comm_free(&broadcasts)
        // Sends to self that no receive matched stay queued in MPI (a later receive on this
        // rank with their tag gets them); their buffers must then outlive this object.
        for pending in selfSends {
            var done = true
            for index in pending.requests.indices where pending.requests[index] != cmpi_request_null() {
                var flag: Int32 = 0
                if MPI_Test(&pending.requests[index], &flag, cmpi_status_ignore()) != MPI_SUCCESS || flag == 0 {
                    MPI_Request_free(&pending.requests[index])
                    done = false
                }
            }
            if done { pending.buffer.deallocate() }
        }
    }

    // MARK: Transport

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        try checkRank(root)
        reapSelfSends()
        if rank == root {
            // The root only reads its payload; reading through withUnsafeBytes avoids the copy
            // that withUnsafeMutableBytes would make if the array's storage is shared.
            try bytes.withUnsafeBytes { try sendBroadcast($0) }
        } else {
            try receiveBroadcast(into: &bytes, root: root)
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        try checkRank(destination)
        try checkTag(tag)
        reapSelfSends()
        if destination == rank {
            // A send to self cannot complete before the receive is posted (for messages over
            // the eager limit), so keep a copy alive until a later call sees it finished.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
            if let source = bytes.baseAddress, bytes.count > 0 {
                buffer.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
            }
            let pending = PendingSelfSend(requests: [], buffer: buffer)
            pending.requests = try postSendPieces(UnsafeRawPointer(buffer.baseAddress!), count: bytes.count,
                                                  to: destination, tag: tag, selfSend: true)
            selfSends.append(pending)
            return
        }
        let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!  // MPI wants a non-null pointer
        var requests = try postSendPieces(base, count: bytes.count, to: destination, tag: tag, selfSend: false)
        for index in requests.indices {
            _ = try wait(&requests[index], call: "MPI_Isend to rank \(destination)", cap: policy.transferSleepCap,
                         watch: watch(destination, "receive of message tag \(tag)"))
        }
    }

    public func receive(from source: Int, tag: Int, maxBytes: Int) throws -> [UInt8] {
        try checkRank(source)
        try checkTag(tag)
        reapSelfSends()
        defer { reapSelfSends() }
        var (message, count) = try probe(source: source, tag: tag)
        if count != pieceBytes {
            // One message: the whole payload.
            guard count <= maxBytes, count <= Int(Int32.max) else {
                try drain(&message, count: count, source: source)
                throw TransportError.oversized(source: source, tag: tag, bytes: count, limit: min(maxBytes, Int(Int32.max)))
            }
            return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                try receivePiece(&message, into: UnsafeMutableRawPointer(buffer.baseAddress), count: count, source: source)
                initialized = count
            }
        }
        // Several pieces: full ones, then one shorter one, received one by one and joined.
        var pieces: [[UInt8]] = []
        var total = 0
        var refused = false
        while true {
            total += count
            if !refused && total <= maxBytes && count <= Int(Int32.max) {
                let size = count
                pieces.append(try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                    try receivePiece(&message, into: UnsafeMutableRawPointer(buffer.baseAddress), count: size, source: source)
                    initialized = size
                })
            } else {
                refused = true
                pieces = []
                try drain(&message, count: count, source: source)
            }
            if count != pieceBytes { break }
            (message, count) = try probe(source: source, tag: tag)
        }
        if refused {
            throw TransportError.oversized(source: source, tag: tag, bytes: total, limit: maxBytes)
        }
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            var offset = 0
            for piece in pieces {
                piece.withUnsafeBufferPointer { part in
                    if let base = part.baseAddress {
                        (buffer.baseAddress! + offset).initialize(from: base, count: part.count)
                    }
                }
                offset += piece.count
            }
            initialized = total
        }
    }

    public func receive(from source: Int, tag: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try checkRank(source)
        try checkTag(tag)
        reapSelfSends()
        defer { reapSelfSends() }
        // Pieces land one after another in the buffer; once one would not fit, the rest drain.
        var (message, count) = try probe(source: source, tag: tag)
        var total = 0
        var refused = false
        while true {
            if !refused && total + count <= buffer.count && count <= Int(Int32.max) {
                try receivePiece(&message, into: buffer.baseAddress.map { $0 + total }, count: count, source: source)
            } else {
                refused = true
                try drain(&message, count: count, source: source)
            }
            total += count
            if count != pieceBytes { break }
            (message, count) = try probe(source: source, tag: tag)
        }
        if refused { throw TransportError.oversized(source: source, tag: tag, bytes: total, limit: buffer.count) }
        return total
    }

    public func barrier() throws {
        reapSelfSends()
        var request = cmpi_request_null()
        try MPIRuntime.check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier")
        _ = try wait(&request, call: "MPI_Ibarrier", cap: policy.idleSleepCap, watch: watch(nil, "arrival at a barrier"))
    }

    // MARK: Pieces

    /// Posts `count / pieceBytes` full pieces and one shorter (possibly empty) last piece.
    /// If posting fails part-way, the pieces already posted are waited for (a send to another
    /// rank: the caller's buffer must stay valid until they finish) or, for a send to self,
    /// released to finish on their own, and the buffer is deliberately never freed.
    private func postSendPieces(_ base: UnsafeRawPointer, count: Int, to destination: Int, tag: Int,
                                selfSend: Bool) throws -> [MPI_Request?] {
        var requests: [MPI_Request?] = []
        var offset = 0
        while true {
            let piece = min(pieceBytes, count - offset)
            var request = cmpi_request_null()
            let rc = MPI_Isend(UnsafeMutableRawPointer(mutating: base + offset), Int32(piece), cmpi_byte(),
                               Int32(destination), Int32(tag), comm, &request)
            if rc != MPI_SUCCESS {
                for index in requests.indices {
                    if selfSend {
                        MPI_Request_free(&requests[index])
                    } else {
                        _ = try? wait(&requests[index], call: "MPI_Isend", cap: policy.idleSleepCap)
                    }
                }
                try MPIRuntime.check(rc, "MPI_Isend to rank \(destination)")
            }
            requests.append(request)
            offset += piece
            if piece < pieceBytes { return requests }
        }
    }

    /// Waits, sleeping, until a message from `source` with `tag` is matched; returns it and its size.
    private func probe(source: Int, tag: Int) throws -> (MPI_Message?, Int) {
        var backoff = MPIBackoff(policy: policy, cap: policy.idleSleepCap)
        let silence = watch(source, "message (tag \(tag))")
        while true {
            var found: Int32 = 0
            var message = cmpi_message_null()
            var status = MPI_Status()
            try MPIRuntime.check(MPI_Improbe(Int32(source), Int32(tag), comm, &found, &message, &status),
                                 "MPI_Improbe(rank \(source), tag \(tag))")
            if found != 0 {
                var count: MPI_Count = 0
                try MPIRuntime.check(MPI_Get_elements_x(&status, cmpi_byte(), &count), "MPI_Get_elements_x")
                return (message, Int(count))
            }
            // A send to self finishes only once its receive is posted; check them while waiting.
            reapSelfSends()
            try silence.check()
            backoff.pause()
        }
    }

    private func receivePiece(_ message: inout MPI_Message?, into base: UnsafeMutableRawPointer?, count: Int, source: Int) throws {
        var request = cmpi_request_null()
        let buffer = base ?? UnsafeMutableRawPointer(bitPattern: 16)!
        try MPIRuntime.check(MPI_Imrecv(buffer, Int32(count), cmpi_byte(), &message, &request), "MPI_Imrecv from rank \(source)")
        _ = try wait(&request, call: "MPI_Imrecv from rank \(source)", cap: policy.transferSleepCap,
                     watch: watch(source, "rest of a message"))
    }

    /// Receives a matched message of `count` bytes without holding it: into one 64 KiB scratch
    /// buffer, through a datatype of 64 KiB with extent 0, so every chunk lands on the same
    /// bytes. (Receiving into a short buffer and letting MPI report truncation is not safe:
    /// Open MPI 4.1 writes past the buffer for messages over the eager limit.)
    private func drain(_ message: inout MPI_Message?, count: Int, source: Int) throws {
        let chunks = (count + drainChunkBytes - 1) / drainChunkBytes
        guard chunks <= Int(Int32.max) else {
            throw TransportError.failed(call: "draining a \(count)-byte message from rank \(source)", code: -1)
        }
        var request = cmpi_request_null()
        try MPIRuntime.check(MPI_Imrecv(drainScratch.baseAddress, Int32(chunks), drainType, &message, &request),
                             "MPI_Imrecv(drain) from rank \(source)")
        _ = try wait(&request, call: "MPI_Imrecv(drain) from rank \(source)", cap: policy.transferSleepCap,
                     watch: watch(source, "rest of a message"))
    }

    // MARK: Waiting

    /// A timed wait for `peer` (nil: a collective) under the current silence limit.
    func watch(_ peer: Int?, _ waitingFor: @autoclosure () -> String) -> SilenceWatch {
        SilenceWatch(limit: silenceLimit, peer: peer, host: peer.map { hostNames[$0] }, waitingFor: waitingFor())
    }

    /// Polls `request` with `MPI_Test`, sleeping between polls with doubling backoff up to `cap` µs;
    /// throws `TransportError.silent` once `watch`'s limit is passed.
    @discardableResult
    func wait(_ request: inout MPI_Request?, call: @autoclosure () -> String, cap: UInt32,
                      watch: SilenceWatch? = nil) throws -> MPI_Status {
        var backoff = MPIBackoff(policy: policy, cap: cap)
        while true {
            var done: Int32 = 0
            var status = MPI_Status()
            let rc = MPI_Test(&request, &done, &status)
            if rc != MPI_SUCCESS {
                throw TransportError.failed(call: "\(call()) (\(MPIRuntime.errorString(rc)))", code: rc)
            }
            if done != 0 { return status }
            try watch?.check()
            backoff.pause()
        }
    }

    /// Frees the buffers of sends to self that have completed.
    private func reapSelfSends() {
        guard !selfSends.isEmpty else { return }
        selfSends.removeAll { pending in
            var done = true
            for index in pending.requests.indices where pending.requests[index] != cmpi_request_null() {
                var flag: Int32 = 0
                if MPI_Test(&pending.requests[index], &flag, cmpi_status_ignore()) != MPI_SUCCESS || flag == 0 {
                    done = false
                }
            }
            if done { pending.buffer.deallocate() }
            return done
        }
    }

    private func checkRank(_ other: Int) throws {
        guard other >= 0 && other < size else { throw TransportError.noPeer(rank: other, size: size) }
    }

    private func checkTag(_ tag: Int) throws {
        guard tag >= 0 && tag <= maxTag else {
            throw TransportError.failed(call: "MPI tag \(tag) is outside 0...\(maxTag)", code: -1)
        }
    }
}
