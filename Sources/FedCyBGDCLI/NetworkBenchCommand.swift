import ArgumentParser
import Federation
import Foundation
import MPITransport
import SystemMetrics

/// `fedcybgd bench-network`: a block upload's bandwidth between two ranks against plain MPI
/// moving the same bytes, measured in the same run. Meant for `mpirun -n 2` with one rank on
/// each of two hosts (scripts/network-bench.sh does that on the namespace cluster).
///
/// Every case is timed on the rank that starts it, from a barrier to a one-byte
/// acknowledgement (a plain blocking `MPI_Recv`), so that the same fixed cost is in every
/// figure and no clocks of two hosts are compared. The cases take turns within each repeat,
/// so that load from other processes falls on all of them alike.
struct NetworkBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-network",
        abstract: "Time a block upload (rank 1 -> 0, the training's own path) against plain MPI of the same bytes; run with mpirun -n 2.")

    @Option(help: "Block sizes in floats, comma-separated (default: a GPT-2-small layer, a width-64 layer).")
    var floats = "7087872,49984"
    @Option(help: "Timed repeats per case and size; medians are reported.") var repeats = 15
    @Option(help: "The bandwidth the upload must reach, as a share of plain MPI's.") var target = 0.8

    func run() throws {
        let sizes = try parsedSizes()
        guard repeats > 0, target > 0 else { throw CLIError("--repeats and --target must be positive") }
        try MPIRuntime.initialize()
        let transport = try MPITransport()
        guard transport.size == 2 else {
            throw CLIError("bench-network needs exactly 2 ranks, not \(transport.size): run it as 'mpirun -n 2 fedcybgd bench-network', one rank on each host")
        }
        let run = NetworkBenchmark(transport: transport, repeats: repeats)
        if transport.rank == 0 { header(transport) }
        for count in sizes {
            let medians = try run.measure(floats: count)
            if transport.rank == 0 { report(medians, floats: count) }
        }
    }

    private func parsedSizes() throws -> [Int] {
        let sizes = floats.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 && $0! * 4 < Int(Int32.max) }) else {
            throw CLIError("--floats \(floats): give positive float counts under 2^29, comma-separated, e.g. 7087872,49984")
        }
        return sizes.map { $0! }
    }

    private func header(_ transport: MPITransport) {
        let hosts = transport.hostNames
        ProgressPrinter.say("bench-network: rank 0 on \(hosts[0]), rank 1 on \(hosts[1]); \(MPIRuntime.libraryVersion())")
        let btl = ProcessInfo.processInfo.environment["OMPI_MCA_btl"] ?? "Open MPI's default"
        ProgressPrinter.say("  btl: \(btl); \(repeats) timed repeats per case after one untimed; each from a barrier to a 1-byte acknowledgement")
        if hosts[0] == hosts[1] {
            ProgressPrinter.say("  note: both ranks are on \(hosts[0]): this measures shared memory, not a network")
        }
    }

    private func report(_ medians: NetworkBenchmark.Medians, floats count: Int) {
        let bytes = Double(count * 4)
        func line(_ name: String, _ seconds: Double) {
            let label = name.padding(toLength: 62, withPad: " ", startingAt: 0)
            ProgressPrinter.say("  \(label) median \(String(format: "%8.3f", seconds * 1e3)) ms  \(String(format: "%7.1f", bytes / seconds / 1e6)) MB/s")
        }
        ProgressPrinter.say("block of \(count) floats (\(String(format: "%.2f", bytes / 1e6)) MB of float32):")
        line("upload, rank 1 -> 0 (header + fp32 body, server's checks)", medians.upload)
        line("plain MPI_Send -> MPI_Recv of the body's bytes", medians.plain)
        line("MPI ping-pong of the body's bytes, half a round trip", medians.pingPong)
        line("broadcast, rank 0 -> 1 (MPITransport.broadcast)", medians.broadcast)
        line("upload leg of an upload-then-plain round trip (paired)", medians.uploadLeg)
        let ofPlain = medians.plain / medians.upload, ofPingPong = medians.pingPong / medians.upload
        let legOfPingPong = medians.pingPong / medians.uploadLeg
        let verdict = min(ofPlain, legOfPingPong) >= target ? "meets" : "BELOW"
        ProgressPrinter.say("  upload bandwidth = \(percent(ofPlain)) of plain MPI_Send (both to a 1-byte acknowledgement), "
            + "\(percent(ofPingPong)) of the ping-pong's; timed as the ping-pong is (upload leg of a round trip), "
            + "\(percent(legOfPingPong)) of the ping-pong's (\(verdict) the \(percent(target)) target); "
            + "broadcast = \(percent(medians.plain / medians.broadcast)) of plain MPI_Send")
    }

    private func percent(_ share: Double) -> String { String(format: "%.0f %%", 100 * share) }
}

/// The four cases of `bench-network`, for one block size, on both ranks.
struct NetworkBenchmark {
    let transport: MPITransport
    let repeats: Int

    /// Median seconds of each case; meaningful on rank 0 (rank 1's timings are sent there).
    struct Medians {
        var upload = 0.0, plain = 0.0, pingPong = 0.0, broadcast = 0.0
        /// The upload as one leg of a round trip whose other leg is a plain send back: per
        /// repeat, that round trip less the same repeat's plain leg (half its ping-pong round
        /// trip). Timed as the ping-pong is, so the two compare like for like, with no
        /// acknowledgement and no barrier skew in either; pairing within a repeat cancels drift
        /// in the load.
        var uploadLeg = 0.0
    }

    func measure(floats count: Int) throws -> Medians {
        var block = (0..<count).map { Float($0 % 1021) * 1e-3 - 0.5 }
        var scratch = [UInt8](repeating: 0, count: count * 4)
        var times: [[Double]] = [[], [], [], [], []]
        for repeatIndex in 0...repeats {
            let round = try [
                upload(block: &block),
                plain(&scratch),
                pingPong(&scratch),
                uploadRoundTrip(block: &block, scratch: &scratch),
                broadcast(&scratch),
            ]
            if repeatIndex > 0 { for (index, seconds) in round.enumerated() { times[index].append(seconds) } }
        }
        // Rank 1 timed the uploads, the plain sends and both round trips; rank 0 the broadcasts.
        let gathered = try exchange(times)
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        let legs = zip(gathered[3], gathered[2]).map { roundTrip, plainLeg in roundTrip - plainLeg }
        return Medians(upload: median(gathered[0]), plain: median(gathered[1]), pingPong: median(gathered[2]),
                       broadcast: median(gathered[4]), uploadLeg: median(legs))
    }

    /// Seconds from a barrier until `work` and the peer's acknowledgement are done, on `timer`;
    /// zero on the other rank.
    private func timed(on timer: Int, _ work: () throws -> Void) throws -> Double {
        try MPIPlainTransfer.barrier()
        let start = ProcessMetrics.now()
        try work()
        return transport.rank == timer ? ProcessMetrics.now() - start : 0
    }

    /// The training's upload: `ClientHost`'s header and straight-from-the-buffer fp32 body on
    /// rank 1; the server's `UploadReceiver` (receives, checks, finiteness) on rank 0.
    private func upload(block: inout [Float]) throws -> Double {
        try timed(on: 1) {
            if transport.rank == 1 {
                try sendUpload(block)
                try MPIPlainTransfer.awaitAcknowledgement(from: 0)
            } else {
                try receiveUpload(block)
                try MPIPlainTransfer.acknowledge(to: 1)
            }
        }
    }

    /// The upload there and plain MPI back: half the ping-pong's scheme, with the upload as one leg.
    private func uploadRoundTrip(block: inout [Float], scratch: inout [UInt8]) throws -> Double {
        try timed(on: 1) {
            if transport.rank == 1 {
                try sendUpload(block)
                try scratch.withUnsafeMutableBytes { try MPIPlainTransfer.receive(into: $0, from: 0) }
            } else {
                try receiveUpload(block)
                try scratch.withUnsafeBytes { try MPIPlainTransfer.send($0, to: 1) }
            }
        }
    }

    private func sendUpload(_ block: [Float]) throws {
        let rows = RowLayout.uniform(count: block.count, rowLength: block.count)
        let header = UploadHeader(round: 1, client: 0, target: .block(1), sampleCount: 1, loss: 1, firstLoss: 1,
                                  lastLoss: 1, bodyBytes: BlockEncoding.fp32.codec.encodedSize(rows))
        try header.encoded().withUnsafeBytes { try transport.send($0, to: 0, tag: UploadTag.header(client: 0)) }
        try block.withUnsafeBytes { try transport.send($0, to: 0, tag: UploadTag.body(client: 0)) }
    }

    private func receiveUpload(_ block: [Float]) throws {
        let rows = RowLayout.uniform(count: block.count, rowLength: block.count)
        let plan = RoundPlan(round: 1, cycle: 1, target: .block(1), clients: [0], learningRate: 1, trainedUnits: [1],
                             neededUnits: [1], droppedLayers: [])
        let upload = try block.withUnsafeBufferPointer {
            try UploadReceiver(plan: plan, encoding: .fp32, current: $0, rows: rows, sampleCounts: [1])
                .receive(client: 0, from: 1, transport: transport)
        }
        guard upload.values.count == block.count else { throw CLIError("bench-network: the upload arrived short") }
    }

    private func plain(_ scratch: inout [UInt8]) throws -> Double {
        try timed(on: 1) {
            if transport.rank == 1 {
                try scratch.withUnsafeBytes { try MPIPlainTransfer.send($0, to: 0) }
                try MPIPlainTransfer.awaitAcknowledgement(from: 0)
            } else {
                try scratch.withUnsafeMutableBytes { try MPIPlainTransfer.receive(into: $0, from: 1) }
                try MPIPlainTransfer.acknowledge(to: 1)
            }
        }
    }

    /// Half of a round trip of the bytes (there and back), plus half an acknowledgement.
    private func pingPong(_ scratch: inout [UInt8]) throws -> Double {
        let seconds = try timed(on: 1) {
            if transport.rank == 1 {
                try scratch.withUnsafeBytes { try MPIPlainTransfer.send($0, to: 0) }
                try scratch.withUnsafeMutableBytes { try MPIPlainTransfer.receive(into: $0, from: 0) }
            } else {
                try scratch.withUnsafeMutableBytes { try MPIPlainTransfer.receive(into: $0, from: 1) }
                try scratch.withUnsafeBytes { try MPIPlainTransfer.send($0, to: 1) }
            }
        }
        return seconds / 2
    }

    private func broadcast(_ scratch: inout [UInt8]) throws -> Double {
        try timed(on: 0) {
            try transport.broadcast(&scratch, root: 0)
            if transport.rank == 0 {
                try MPIPlainTransfer.awaitAcknowledgement(from: 1)
            } else {
                try MPIPlainTransfer.acknowledge(to: 0)
            }
        }
    }

    /// Each case's timings from the rank that took them, on rank 0.
    private func exchange(_ times: [[Double]]) throws -> [[Double]] {
        var rankOne = times
        if transport.rank == 1 {
            let flat = times[0] + times[1] + times[2] + times[3]
            try flat.withUnsafeBytes { try MPIPlainTransfer.send($0, to: 0) }
        } else {
            var flat = [Double](repeating: 0, count: 4 * repeats)
            try flat.withUnsafeMutableBytes { try MPIPlainTransfer.receive(into: $0, from: 1) }
            for index in 0..<4 { rankOne[index] = Array(flat[(index * repeats)..<((index + 1) * repeats)]) }
        }
        return rankOne
    }
}
