import Corpus
import Federation
import Foundation
import GPT
import SystemMetrics

/// A tiny corpus and model, small enough that whole federated runs take well under a second.
enum TinyRun {
    static let texts = [
        "alpha": String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 30),
        "beta": String(repeating: "pack my box with five dozen liquor jugs! ", count: 30),
        "gamma": String(repeating: "how vexingly quick daft zebras jump; ", count: 30),
        "delta": String(repeating: "sphinx of black quartz, judge my vow? ", count: 30),
    ]

    static func corpus() throws -> FederatedCorpus {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fedcybgd-tiny-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, text) in texts { try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let documents = try CorpusLoader.load(path: folder.path)
        return try CorpusLoader.federate(documents: documents, scheme: .byFile(clients: nil), seed: 0,
                                         validationFraction: 0.1, sequence: 16).corpus
    }

    static func settings(rounds: Int = 8, layers: Int = 2, clientsPerRound: Int = 1, checkpointEvery: Int = 0) -> FederationSettings {
        FederationSettings(
            model: GPTConfig(vocabSize: 256, contextLength: 16, embedDim: 16, layers: layers, heads: 2),
            rounds: rounds, clientsPerRound: clientsPerRound, localSteps: 3, batch: 4, sequence: 16,
            optimizer: AdamWSettings(learningRate: 1e-2), seed: 7, evalBatches: 4, checkpointEvery: checkpointEvery)
    }

    static func initial(_ settings: FederationSettings) -> ParameterBuffer {
        ParameterBuffer.initialized(layout: ParameterLayout(config: settings.model), seed: settings.seed)
    }

    /// Runs a job on `ranks` threads with the in-memory transport; returns rank 0's store and final model.
    static func runThreaded(ranks: Int, settings: FederationSettings, corpus: FederatedCorpus,
                            tamper: ((Int, ThreadedTransport) -> Void)? = nil) throws -> (MemoryRunStore, ParameterBuffer) {
        let hub = ThreadedHub(size: ranks)
        let transports = hub.transports()
        for transport in transports { tamper?(transport.rank, transport) }
        let store = MemoryRunStore()
        let server = initial(settings)
        let failures = FailureLog()
        let group = DispatchGroup()
        for transport in transports.dropFirst() {
            let thread = Thread {
                do {
                    let blank = ParameterBuffer(layout: ParameterLayout(config: settings.model))
                    try FedCyBGD.run(settings: settings, corpus: corpus, initial: blank, transport: transport,
                                     store: nil, jobText: "", observer: nil, probe: SystemProcessProbe())
                } catch { failures.add("rank \(transport.rank): \(error)") }
                group.leave()
            }
            group.enter()
            thread.start()
        }
        try FedCyBGD.run(settings: settings, corpus: corpus, initial: server, transport: transports[0],
                         store: store, jobText: "tiny", observer: nil, probe: SystemProcessProbe())
        group.wait()
        if let failure = failures.first { throw TinyRunError(description: failure) }
        return (store, server)
    }
}

struct TinyRunError: Error, CustomStringConvertible { let description: String }

final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func add(_ message: String) { lock.lock(); messages.append(message); lock.unlock() }
    var first: String? { lock.lock(); defer { lock.unlock() }; return messages.first }
}
