import Corpus
import Federation
import GPT
import Kernels
import SystemMetrics
import XCTest

/// Federated runs on instruction data: token totals count response tokens only, and ranks do
/// not change the result.
final class InstructionTrainingTests: XCTestCase {
    private static let jsonl: [UInt8] = {
        var lines: [String] = []
        for i in 0..<24 {
            lines.append(#"{"task": "define", "instruction": "Define word number \#(i) please.", "output": "thing \#(i % 10)"}"#)
            lines.append(#"{"task": "chat", "messages": [{"role": "user", "content": "Hi \#(i)"}, {"role": "assistant", "content": "Hello"}]}"#)
            lines.append(#"{"task": "short", "instruction": "Say yes.", "input": "\#(i)", "output": "yes"}"#)
        }
        return Array(lines.joined(separator: "\n").utf8)
    }()

    private func corpus(pack: Bool) throws -> FederatedCorpus {
        let settings = InstructionSettings(scheme: .byField(clients: nil), validationFraction: 0.2, testFraction: 0.1, sequence: 256, pack: pack, seed: 3)
        return try InstructionLoader.federate(bytes: Self.jsonl, source: "t", tokenizer: ByteTokenizer(), settings: settings).corpus
    }

    private func settings(rounds: Int) -> FederationSettings {
        FederationSettings(model: GPTConfig(vocabSize: 256, contextLength: 256, embedDim: 16, layers: 1, heads: 2),
                           rounds: rounds, clientsPerRound: 2, localSteps: 2, batch: 3, sequence: 256,
                           optimizer: AdamWSettings(learningRate: 1e-2), seed: 7, evalBatches: 2)
    }

    /// What the server adds to the totals is what the trainer's batches count: their
    /// non-negative targets, never a prompt token or padding.
    func testCountedTokensAreTheNonNegativeTargetsOfTheVisitsBatches() throws {
        let corpus = try corpus(pack: true)
        let s = settings(rounds: 1)
        for shard in corpus.clients {
            for round in 1...3 {
                let targets = (0..<s.localSteps).flatMap { step in
                    BatchSampler.trainingBatch(shard.data, batch: s.batch, sequence: s.sequence, seed: s.seed, round: round,
                                               client: shard.client, step: step).targets
                }
                XCTAssertEqual(LocalTraining.countedTokens(shard, round: round, settings: s), targets.filter { $0 >= 0 }.count)
                XCTAssertLessThan(targets.filter { $0 >= 0 }.count, targets.count / 2, "most positions are prompt or padding")
            }
        }
    }

    /// Unpacked, each row is one record, so a visit counts batch · steps · (response + end) tokens.
    func testRunTotalsCountResponsesAndEndTokensOnly() throws {
        let previousThreads = BLAS.threads
        BLAS.setThreads(1)
        defer { BLAS.setThreads(previousThreads) }
        let corpus = try corpus(pack: false)
        XCTAssertEqual(corpus.clients.map(\.name), ["chat", "define", "short"])
        let s = settings(rounds: 6)
        let single = TinyRun.initial(s)
        let summary = try XCTUnwrap(FedCyBGD.run(settings: s, corpus: corpus, initial: single, transport: LocalTransport(),
                                                 store: nil, jobText: "", observer: nil, probe: SystemProcessProbe()))
        let perRecord = ["chat": "Hello<|im_end|>".utf8.count + 1, "define": "thing 0".utf8.count + 1, "short": "yes".utf8.count + 1]
        let schedule = CycleSchedule(settings: s, clientCount: corpus.clients.count)
        let expected = (1...s.rounds).reduce(0) { total, round in
            schedule.plan(round: round).clients.reduce(total) { $0 + s.localSteps * s.batch * perRecord[corpus.clients[$1].name]! }
        }
        XCTAssertEqual(summary.tokensTrained, expected)
        XCTAssertLessThan(summary.finalEvalLoss, summary.initialEvalLoss)

        let (_, threaded) = try TinyRun.runThreaded(ranks: 3, settings: s, corpus: corpus)
        XCTAssertEqual(zip(single.storage, threaded.storage).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                       "parameters differing between 1 and 3 ranks")
    }

    /// The pooled baselines train on every client's rows, and evaluate on the same rows.
    func testPooledCorpusKeepsRowsAndHeldOutRecords() throws {
        let corpus = try corpus(pack: true)
        let pooled = corpus.pooled()
        XCTAssertEqual(pooled.clients.count, 1)
        guard case .rows(let rows) = pooled.clients[0].data else { return XCTFail("pooled instruction data is not rows") }
        XCTAssertEqual(rows.countedTotal, corpus.clients.map(\.data.countedTokens).reduce(0, +))
        XCTAssertEqual(pooled.validation, corpus.validation)
        XCTAssertEqual(pooled.heldOut, corpus.heldOut)
    }
}
