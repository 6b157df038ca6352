import Corpus
import Foundation
import HDF5Store

/// What partition.h5 holds besides the split for instruction data (docs/RUN-FILES.md): the
/// rows of each client, the bad records left out, and every held-out record with its prompt
/// and reference, for evaluations record by record (per task, by generation).
enum InstructionRecordFile {
    static func write(folder: String, corpus: FederatedCorpus, labels: [String], skipped: [BadRecord]) throws {
        let file = try HDF5File.open((folder as NSString).appendingPathComponent("partition.h5"), writable: true)
        try file.setAttribute("format", "jsonl")
        try file.setAttribute("skipped_records", skipped.count)
        let rowCounts = corpus.clients.map { shard -> Int in
            guard case .rows(let rows) = shard.data else { return 0 }
            return rows.count
        }
        let rows = try file.createDataset("client_rows", shape: [rowCounts.count], values: rowCounts)
        try rows.setAttribute("description", "training rows of each client (train.sequence positions each, records packed whole)")
        let skippedGroup = try file.createGroup("skipped")
        try skippedGroup.setAttribute("description", "bad records left out (data.bad_records = \"skip\"): line and reason")
        try skippedGroup.createDataset("line", shape: [skipped.count], values: skipped.map(\.line))
        try writeTexts(skipped.map(\.reason), name: "reason", in: skippedGroup)
        try writeHeldOut(corpus.heldOut, labels: labels, in: try file.createGroup("held_out"))
        try file.close()
    }

    private static func writeHeldOut(_ records: [HeldOutRecord], labels: [String], in group: HDF5Group) throws {
        try group.setAttribute("description", "held-out records of every client: split 0 = validation, 1 = test; "
            + "tokens[token_offsets[i]:token_offsets[i+1]] is record i (prompt, response, end of sequence), counted marks "
            + "the tokens the loss counts, the first prompt_length tokens are the prompt before the final response; "
            + "label indexes the root attribute 'labels' (-1: none)")
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        try group.createDataset("split", shape: [records.count], values: records.map(\.split.rawValue))
        try group.createDataset("client", shape: [records.count], values: records.map(\.client))
        try group.createDataset("line", shape: [records.count], values: records.map(\.record.line))
        try group.createDataset("label", shape: [records.count], values: records.map { $0.record.label.flatMap { index[$0] } ?? -1 })
        try group.createDataset("prompt_length", shape: [records.count], values: records.map(\.record.promptLength))
        let tokens = records.flatMap(\.record.tokens)
        try group.createDataset("tokens", shape: [tokens.count], values: tokens)
        try group.createDataset("counted", shape: [tokens.count], values: records.flatMap { $0.record.counted.map { UInt8($0 ? 1 : 0) } })
        try group.createDataset("token_offsets", shape: [records.count + 1], values: offsets(records.map(\.record.tokens.count)))
        try writeTexts(records.map(\.record.reference), name: "reference", in: group)
    }

    /// Strings as `<name>_utf8` (all bytes) and `<name>_offsets` (n + 1 starts): HDF5
    /// attributes are too small for thousands of texts.
    private static func writeTexts(_ texts: [String], name: String, in group: HDF5Group) throws {
        let bytes = texts.map { Array($0.utf8) }
        try group.createDataset(name + "_utf8", shape: [bytes.reduce(0) { $0 + $1.count }], values: bytes.flatMap { $0 })
        try group.createDataset(name + "_offsets", shape: [bytes.count + 1], values: offsets(bytes.map(\.count)))
    }

    private static func offsets(_ lengths: [Int]) -> [Int] {
        lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
    }
}
