import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test-only: lands a SIGKILL at an exact moment inside a history append, which a kill from
/// outside hits only by luck (an append takes milliseconds of a round).
///
/// `FEDCYBGD_TEST_KILL_IN_HISTORY_APPEND=R:S` makes the process kill itself at step S (1 = the
/// file just opened, then one step after each dataset written, the last before the file is
/// closed) of the append of round R's row. Unset, it costs one comparison per step. Used by
/// `Tests/python/test_history_kills.py`; documented in docs/CHECKPOINTS.md.
enum HistoryAppendKillSwitch {
    static let variable = "FEDCYBGD_TEST_KILL_IN_HISTORY_APPEND"

    private static let target: (round: Int, step: Int)? = {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return nil }
        let parts = text.split(separator: ":").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }()

    /// The round being appended and the steps it has reached; one writer thread only.
    nonisolated(unsafe) private static var current = (round: -1, steps: 0)

    /// Counts a step of the append of `round`'s row, and kills the process at the target.
    static func step(round: Int) {
        guard let target, target.round == round else { return }
        current = current.round == round ? (round, current.steps + 1) : (round, 1)
        if current.steps == target.step { kill(getpid(), SIGKILL) }
    }
}
