import Foundation
import GPT

/// Names and the format version of the run files. The datasets themselves are declared in
/// `HistorySchema`, `StateSchema` and `SummarySchema`; `docs/RUN-FILES.md` describes the same.
enum RunSchema {
    static let program = "fedcybgd"
    /// Bumped when the layout of the files changes incompatibly.
    static let formatVersion = 2
    static let historyFile = "history.h5"
    /// The dataset of a checkpoint that holds a byte copy of history.h5.
    static let historyCopy = "history_copy"

    /// Refuses a file written in another run-file format, in one line naming both versions.
    static func checkFormat(_ file: HDF5Object, path: String) throws {
        let version = try file.hasAttribute("format_version") ? try file.attribute("format_version", as: Int.self) : 1
        guard version == formatVersion else {
            throw HDF5Error(.mismatch, file: path, "is in run-file format version \(version); this program reads version \(formatVersion) only (start a new run, or use the program version that wrote it)")
        }
    }

    static func checkpointName(round: Int) -> String {
        "checkpoint-" + String(format: "%06d", round) + ".h5"
    }

    /// The round of a file named like `checkpoint-000012.h5`, or nil for any other name.
    static func checkpointRound(fileName: String) -> Int? {
        guard fileName.hasPrefix("checkpoint-"), fileName.hasSuffix(".h5") else { return nil }
        let digits = fileName.dropFirst("checkpoint-".count).dropLast(".h5".count)
        guard digits.count >= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    static func tensorDescription(_ tensor: CheckpointTensor, architecture: Architecture) -> String {
        let block = tensor.block >= 0 ? ", block \(tensor.block)" : ""
        return "\(architecture.familyName) parameter \(tensor.name)\(block); Hugging Face name and shape (\(architecture.weightLayout))"
    }

    /// ISO 8601 UTC time with seconds, e.g. 2026-05-09T07:35:25Z.
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
