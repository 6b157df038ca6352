import CMPI
import Federation
import Foundation

/// The broadcast: the root sends every other rank its own copy (the length as 8 bytes, then the
/// payload in pieces of at most `pieceBytes`) on `broadcastComm`, one non-blocking send per rank
/// and piece, all in flight at once.
///
/// This is the linear schedule Open MPI's `MPI_Ibcast` (coll/libnbc) chose for these jobs anyway
/// (measured on the multi-host test cluster: the root's interface carried one copy per remote
/// rank). Doing it by hand gives the root one request per rank, so a rank that stops taking its
/// copy is named, with its host, when the silence limit runs out; a collective cannot say who
/// holds it up.
extension MPITransport {
    func sendBroadcast(_ payload: UnsafeRawBufferPointer) throws {
        var length = Int64(payload.count)
        try withUnsafeBytes(of: &length) { header in
            var pending: [(peer: Int, request: MPI_Request?, watch: SilenceWatch)] = []
            // Requests already posted must be waited for even when a later post fails: MPI reads
            // the buffers until they finish.
            defer {
                for index in pending.indices where pending[index].request != cmpi_request_null() {
                    _ = try? wait(&pending[index].request, call: "MPI_Isend(broadcast)", cap: policy.transferSleepCap)
                }
            }
            for peer in 0..<size where peer != rank {
                let watch = self.watch(peer, "receipt of the broadcast")
                for (base, count) in [(header.baseAddress!, 8)] + pieces(of: payload) {
                    var request = cmpi_request_null()
                    try MPIRuntime.check(MPI_Isend(UnsafeMutableRawPointer(mutating: base), Int32(count), cmpi_byte(),
                                                   Int32(peer), 0, broadcastComm, &request),
                                         "MPI_Isend(broadcast) to rank \(peer)")
                    pending.append((peer, request, watch))
                }
            }
            for index in pending.indices {
                let peer = pending[index].peer
                _ = try wait(&pending[index].request, call: "MPI_Isend(broadcast) to rank \(peer)",
                             cap: policy.transferSleepCap, watch: pending[index].watch)
            }
        }
    }

    func receiveBroadcast(into bytes: inout [UInt8], root: Int) throws {
        let watch = self.watch(root, "broadcast")
        var length: Int64 = -1
        try withUnsafeMutableBytes(of: &length) { header in
            try receive(header.baseAddress!, count: 8, from: root, cap: policy.idleSleepCap, watch: watch)
        }
        guard length >= 0 else {
            throw TransportError.failed(call: "broadcast: rank \(root) sent a negative length \(length)", code: -1)
        }
        let count = Int(length)
        if bytes.count == count {
            // Same length as last time: receive in place, sparing a fresh allocation's page faults.
            try bytes.withUnsafeMutableBytes { try receivePieces(into: UnsafeRawBufferPointer($0), from: root, watch: watch) }
        } else {
            bytes = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                try receivePieces(into: UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer(buffer)), from: root, watch: watch)
                initialized = count
            }
        }
    }

    /// The payload's pieces, as (start, length); none for an empty payload.
    private func pieces(of payload: UnsafeRawBufferPointer) -> [(UnsafeRawPointer, Int)] {
        guard let base = payload.baseAddress, payload.count > 0 else { return [] }
        return stride(from: 0, to: payload.count, by: pieceBytes).map { (base + $0, min(pieceBytes, payload.count - $0)) }
    }

    private func receivePieces(into buffer: UnsafeRawBufferPointer, from root: Int, watch: SilenceWatch) throws {
        for (base, count) in pieces(of: buffer) {
            try receive(UnsafeMutableRawPointer(mutating: base), count: count, from: root, cap: policy.transferSleepCap, watch: watch)
        }
    }

    private func receive(_ base: UnsafeMutableRawPointer, count: Int, from root: Int, cap: UInt32, watch: SilenceWatch) throws {
        var request = cmpi_request_null()
        try MPIRuntime.check(MPI_Irecv(base, Int32(count), cmpi_byte(), Int32(root), 0, broadcastComm, &request),
                             "MPI_Irecv(broadcast) from rank \(root)")
        _ = try wait(&request, call: "MPI_Irecv(broadcast) from rank \(root)", cap: cap, watch: watch)
    }
}
