import Federation
import Foundation
@testable import HDF5Store
import XCTest

/// Instruction data's evaluation in history.h5: the per-task columns (NaN rows where a round
/// did not evaluate, named by the `tasks` attribute), `/generations` (cut back by a resume) and
/// `/test`, read with h5py.
final class EvaluationRecordsTests: RunFolderTestCase {
    let tasks = ["define", "riddle", "translate-de"]

    /// `records()` with instruction metrics on the rounds that evaluated (even rounds).
    func evaluated() -> [RoundRecord] {
        records().map { record in
            var copy = record
            guard !record.evalLoss.isNaN else { return copy }
            let r = Float(record.round)
            copy.evalTaskLoss = [r, r + 0.5, r + 0.25]
            copy.evalExactMatch = 0.5
            copy.evalF1 = 0.75
            copy.evalTaskExactMatch = [1, .nan, 0]
            copy.evalTaskF1 = [1, .nan, 0.5]
            return copy
        }
    }

    func answers(round: Int) -> [GeneratedAnswer] {
        [GeneratedAnswer(heldOut: 4, task: 0, line: 17, text: "Hund \(round)", generatedTokens: 6, exactMatch: 1, f1: 1),
         GeneratedAnswer(heldOut: 9, task: 2, line: 40, text: "été", generatedTokens: 5, exactMatch: 0, f1: 0.5)]
    }

    func testTaskColumnsAndAnswersRoundTripAndAResumeCutsThem() throws {
        let store = try HDF5RunStore(folder: folder)
        try store.begin(jobText: job, parameterCount: 1, config: nil, clientsPerRound: 3)
        try store.recordTasks(tasks, validationTokens: [10, 20, 30])
        for record in evaluated() {
            try store.append(record)
            if !record.evalLoss.isNaN { try store.appendAnswers(answers(round: record.round), round: record.round) }
        }
        XCTAssertEqual(try HDF5RunReader.readHistory(folder), evaluated())
        XCTAssertEqual(try HDF5RunReader.readTasks(folder), tasks)
        try store.truncateHistory(afterRound: 2)
        XCTAssertEqual(try HDF5RunReader.readHistory(folder), Array(evaluated().prefix(2)))
        try store.append(evaluated()[2])
        var test = EvaluationScores()
        test.loss = 2.5
        test.taskLoss = [2, 3, .nan]
        test.taskTokens = [4, 4, 0]
        test.answers = answers(round: 9)
        try store.recordTest(test, round: 3)
        let script = """
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "r") as f:
            h = f["history"]
            assert h.attrs["tasks"].split("\\n") == ["define", "riddle", "translate-de"]
            loss = h["eval_task_loss"]
            assert loss.shape == (3, 3) and loss.dtype == np.float32 and loss.attrs["units"] == "nats/byte"
            assert loss.attrs["tasks"] == h.attrs["tasks"] and loss.attrs["validation_tokens"].tolist() == [10, 20, 30]
            assert np.isnan(loss[0]).all() and np.isnan(loss[2]).all() and loss[1].tolist() == [2, 2.5, 2.25]
            assert np.isnan(h["eval_task_f1"][1][1]) and h["eval_task_f1"][1][2] == 0.5
            assert np.isnan(h["eval_f1"][0]) and h["eval_f1"][1] == 0.75
            g = f["generations"]
            assert g["round"][()].tolist() == [2, 2] and g["held_out"][()].tolist() == [4, 9]
            ends = g["text_end"][()].tolist()
            text = bytes(g["text_utf8"][()])
            assert [text[:ends[0]].decode(), text[ends[0]:ends[1]].decode()] == ["Hund 2", "été"] and len(text) == ends[-1]
            t = f["test"]
            assert t.attrs["round"] == 3 and t["task_loss"][0] == 2 and np.isnan(t["task_loss"][2])
            assert t["task_tokens"][()].tolist() == [4, 4, 0]
            assert bytes(t["answers/text_utf8"][()]).decode() == "Hund 9été"
        print("ok")
        """
        let (status, output) = try python(script, [store.historyPath])
        XCTAssertEqual(status, 0, output)
    }
}
