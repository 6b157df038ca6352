@testable import FedCyBGDCLI
import Corpus
import Federation
import GPT
import XCTest

/// The start-up line for a chosen block order or client selection that leaves blocks without
/// some client over the run (the fact itself is tested in FederationTests' ClientCoverageTests).
final class TiedBlocksNoteTests: XCTestCase {
    private func note(selection: ClientSelection, rounds: Int) -> String? {
        let model = GPTConfig(vocabSize: 256, contextLength: 16, embedDim: 16, layers: 2, heads: 2)
        var settings = FederationSettings(model: model, rounds: rounds, clientsPerRound: 1, localSteps: 1, batch: 1, sequence: 16,
                                          optimizer: AdamWSettings(learningRate: 1e-2), seed: 7, evalBatches: 1, checkpointEvery: 0)
        settings.clientSelection = selection
        return ProgressPrinter(layout: ParameterLayout(config: model), lossUnit: .natsPerByte).tiedBlocksNote(settings, clientCount: 2)
    }

    func testOneLineNamesTheBlocksOnlyWhenAChosenSettingTiesThem() throws {
        XCTAssertNil(note(selection: .cyclic, rounds: 8), "the default schedule gives every block both clients in 2 cycles")
        let line = try XCTUnwrap(note(selection: .random, rounds: 8))
        XCTAssertTrue(line.hasPrefix("note: with train.block_order = \"ascending\" and train.client_selection = \"random\", "), line)
        XCTAssertTrue(line.contains("with some of the 2 clients in 8 rounds"), line)
        XCTAssertFalse(line.contains("\n"))
        let names = ParameterLayout(config: GPTConfig(vocabSize: 256, contextLength: 16, embedDim: 16, layers: 2, heads: 2)).blocks.map(\.name)
        XCTAssertTrue(names.contains { line.contains(" \($0)") }, line)
    }
}
