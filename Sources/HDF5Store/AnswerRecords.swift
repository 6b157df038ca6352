import Federation

/// The attributes that name the per-task columns of `/history` (docs/RUN-FILES.md).
enum TaskColumns {
    /// The task names, one per line, in column order.
    static let tasksAttribute = "tasks"
    /// Per task, the counted validation targets the evaluation batches hold: the weights of
    /// `eval_task_loss`.
    static let tokensAttribute = "validation_tokens"

    static func record(tasks: [String], validationTokens: [Int], in history: HDF5Group) throws {
        try history.setAttribute(tasksAttribute, tasks.joined(separator: "\n"))
        if !validationTokens.isEmpty { try history.setAttribute(tokensAttribute, validationTokens) }
    }
}

/// Greedy answers in history.h5: `/generations` (one row per answer at each evaluation round)
/// and `/test/answers` (the final model's answers to test prompts). Each table has, per answer,
/// its round, its held-out record (`held_out`, a row of partition.h5's `held_out`), task, line,
/// generated ids, exact match and F1, and its text: bytes `text_end[i-1]..<text_end[i]` of
/// `text_utf8` (from 0 for the first).
enum AnswerRecords {
    private static let columns: [(name: String, description: String)] = [
        ("round", "the round after which the model answered (the last round for /test/answers)"),
        ("held_out", "the record's row in partition.h5's held_out group (its prompt, reference, split and line)"),
        ("task", "the record's task: a line of the attribute tasks; -1: none"),
        ("line", "the record's 1-based line in the data file"),
        ("generated_tokens", "ids the model generated, the end-of-sequence id included when it came"),
        ("exact_match", "SQuAD exact match (1 or 0) of the answer against the reference after SQuAD's normalisation"),
        ("f1", "SQuAD token F1 (0..1) of the answer against the reference"),
        ("text_end", "end of this answer's bytes in text_utf8 (it starts at the previous row's end, 0 for the first)"),
    ]

    /// Appends `answers` of `round` to the table `name` of `parent`, creating it when missing.
    static func append(_ answers: [GeneratedAnswer], round: Int, to parent: HDF5Container, name: String,
                       tasks: String?) throws {
        let table = try parent.contains(name) ? try parent.openGroup(name) : try create(name, in: parent, tasks: tasks)
        let text = try table.openDataset("text_utf8")
        var end = try text.shape().first ?? 0
        var ends: [Int] = []
        var bytes: [UInt8] = []
        for answer in answers {
            bytes += Array(answer.text.utf8)
            end += answer.text.utf8.count
            ends.append(end)
        }
        try table.openDataset("round").append(answers.map { _ in round })
        try table.openDataset("held_out").append(answers.map(\.heldOut))
        try table.openDataset("task").append(answers.map { Int32($0.task) })
        try table.openDataset("line").append(answers.map(\.line))
        try table.openDataset("generated_tokens").append(answers.map { Int32($0.generatedTokens) })
        try table.openDataset("exact_match").append(answers.map { Float($0.exactMatch) })
        try table.openDataset("f1").append(answers.map { Float($0.f1) })
        try text.append(bytes)
        try table.openDataset("text_end").append(ends)
    }

    /// Drops the answers of rounds after `round` from `/generations`, as a resume cuts the history back.
    static func truncate(in file: HDF5File, afterRound round: Int) throws {
        guard try file.contains("generations") else { return }
        let table = try file.openGroup("generations")
        let rounds = try table.openDataset("round").read(as: Int.self)
        let keep = rounds.firstIndex { $0 > round } ?? rounds.count
        guard keep < rounds.count else { return }
        let textEnd = keep > 0 ? try table.openDataset("text_end").read(as: Int.self)[keep - 1] : 0
        for column in columns { try table.openDataset(column.name).resize(rows: keep) }
        try table.openDataset("text_utf8").resize(rows: textEnd)
    }

    private static func create(_ name: String, in parent: HDF5Container, tasks: String?) throws -> HDF5Group {
        let table = try parent.createGroup(name)
        try table.setAttribute("description", "greedy answers to held-out prompts, one row per answer; the text of row i is text_utf8[text_end[i-1]:text_end[i]]")
        if let tasks { try table.setAttribute(TaskColumns.tasksAttribute, tasks) }
        for (column, description) in columns {
            let dataset: HDF5Dataset
            switch column {
            case "task", "generated_tokens": dataset = try table.createExtendibleDataset(column, of: Int32.self, chunkRows: 256)
            case "exact_match", "f1": dataset = try table.createExtendibleDataset(column, of: Float.self, chunkRows: 256)
            default: dataset = try table.createExtendibleDataset(column, of: Int.self, chunkRows: 256)
            }
            try dataset.setAttribute("description", description)
            try dataset.setAttribute("units", column == "generated_tokens" ? "tokens" : "1")
        }
        let text = try table.createExtendibleDataset("text_utf8", of: UInt8.self, chunkRows: 4096)
        try text.setAttribute("description", "the answers' UTF-8 bytes, one after another")
        try text.setAttribute("units", "bytes")
        return table
    }

    /// `/test`: the final model's scores on the test split, per task, and its answers.
    static func writeTest(_ scores: EvaluationScores, round: Int, to file: HDF5File, tasks: String?, lossUnits: String) throws {
        if try file.contains("test") { try file.remove("test") }
        let test = try file.createGroup("test")
        try test.setAttribute("description", "the final model on the test split, evaluated once when the run finished; never used to choose anything")
        if let tasks { try test.setAttribute(TaskColumns.tasksAttribute, tasks) }
        try test.setAttribute("round", round)
        let perTask: [(String, [Float], String, String)] = [
            ("task_loss", scores.taskLoss, lossUnits, "per task: response cross-entropy over its counted targets in every test row"),
            ("task_exact_match", scores.taskExactMatch, "1", "per task: mean SQuAD exact match of its answers in answers; NaN: none"),
            ("task_f1", scores.taskF1, "1", "per task: mean SQuAD token F1 of its answers; NaN: none"),
        ]
        for (name, values, units, description) in perTask where !values.isEmpty {
            let dataset = try test.createDataset(name, shape: [values.count], values: values)
            try dataset.setAttribute("units", units)
            try dataset.setAttribute("description", description)
        }
        if !scores.taskTokens.isEmpty {
            let tokens = try test.createDataset("task_tokens", shape: [scores.taskTokens.count], values: scores.taskTokens)
            try tokens.setAttribute("units", "tokens")
            try tokens.setAttribute("description", "per task: counted targets of its test records (the weights of task_loss)")
        }
        try append(scores.answers, round: round, to: test, name: "answers", tasks: tasks)
    }
}
