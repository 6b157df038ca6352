import CMPI
import Federation

/// Plain blocking MPI transfers between two ranks of `MPI_COMM_WORLD`, with nothing of the
/// transport around them: the yardstick `fedcybgd bench-network` holds the upload path against.
///
/// They use their own tags above the transport's, and blocking calls (which busy-poll), the
/// fastest way Open MPI moves a message.
public enum MPIPlainTransfer {
    /// The tag of the benchmark's plain messages and acknowledgements.
    static let tag: Int32 = 32_000

    /// Sends `bytes` to `peer` with one `MPI_Send`.
    public static func send(_ bytes: UnsafeRawBufferPointer, to peer: Int) throws {
        let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!
        try MPIRuntime.check(MPI_Send(UnsafeMutableRawPointer(mutating: base), Int32(bytes.count), cmpi_byte(), Int32(peer),
                                      tag, cmpi_comm_world()), "MPI_Send to rank \(peer)")
    }

    /// Receives exactly `bytes.count` bytes from `peer` with one `MPI_Recv`.
    public static func receive(into bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws {
        let base = bytes.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 16)!
        try MPIRuntime.check(MPI_Recv(base, Int32(bytes.count), cmpi_byte(), Int32(peer), tag, cmpi_comm_world(),
                                      cmpi_status_ignore()), "MPI_Recv from rank \(peer)")
    }

    /// A one-byte message to `peer`: "done".
    public static func acknowledge(to peer: Int) throws {
        var byte: UInt8 = 1
        try withUnsafeBytes(of: &byte) { try send($0, to: peer) }
    }

    /// Waits for `peer`'s one-byte acknowledgement.
    public static func awaitAcknowledgement(from peer: Int) throws {
        var byte: UInt8 = 0
        try withUnsafeMutableBytes(of: &byte) { try receive(into: $0, from: peer) }
    }

    /// Both ranks wait here for each other (`MPI_Barrier`).
    public static func barrier() throws {
        try MPIRuntime.check(MPI_Barrier(cmpi_comm_world()), "MPI_Barrier")
    }
}
