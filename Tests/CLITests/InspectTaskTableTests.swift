@testable import FedCyBGDCLI
import Federation
import XCTest

/// `inspect`'s per-task table: a task the evaluation holds no validation record of says so
/// instead of printing its NaN loss (Tests/python/test_instruct.py runs it for real).
final class InspectTaskTableTests: XCTestCase {
    func testTaskWithoutValidationRecordsSaysSoInsteadOfNaN() {
        var record = RoundRecord(round: 4, cycle: 1, target: .block(0), clients: [0], trainLoss: 1, evalLoss: 2,
                                 bytesDown: 0, bytesUp: 0, bytesBroadcast: 0, seconds: 0, serverCPUSeconds: 0)
        record.evalTaskLoss = [1.5, .nan]
        record.evalTaskExactMatch = [0.25, .nan]
        record.evalTaskF1 = [0.5, .nan]
        let lines = InspectCommand.taskTable(record, tasks: ["define", "element-number"], validationTokens: [40, 0])
        XCTAssertEqual(lines, [
            "  task                loss  exact      F1",
            "  define            1.5000  25.0%   50.0%",
            "  element-number  no validation records evaluated",
        ])
        XCTAssertFalse(lines.joined().contains("nan"))
    }
}
