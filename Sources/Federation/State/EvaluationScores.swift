/// One greedy answer to a held-out prompt, with its scores.
public struct GeneratedAnswer: Sendable, Equatable {
    /// The record's index in `FederatedCorpus.heldOut` (a row of partition.h5's `held_out`).
    public var heldOut: Int
    /// The record's task (index into the tasks), -1 when it has none.
    public var task: Int
    /// The record's line in the data file.
    public var line: Int
    /// The answer's text, cut at the end of sequence or the chat template's end marker.
    public var text: String
    /// How many ids the model generated (the end-of-sequence id included when it came).
    public var generatedTokens: Int
    /// SQuAD's exact match (0 or 1) and token F1 against the reference (`AnswerScore`).
    @BitExact public var exactMatch: Double
    @BitExact public var f1: Double

    public init(heldOut: Int, task: Int, line: Int, text: String, generatedTokens: Int, exactMatch: Double, f1: Double) {
        self.heldOut = heldOut; self.task = task; self.line = line; self.text = text
        self.generatedTokens = generatedTokens; self.exactMatch = exactMatch; self.f1 = f1
    }
}

/// What one evaluation of the model measured on a held-out split: the response loss overall
/// and per task, and the greedy answers' exact match and F1 overall and per task. Plain-text
/// runs measure only the loss (the rest NaN or empty).
public struct EvaluationScores: Sendable, Equatable {
    /// Mean cross-entropy per counted target (nats/token); NaN when nothing was evaluated.
    @BitExact public var loss: Float = .nan
    /// Per task: mean cross-entropy of its counted targets; NaN for a task with none.
    @BitExact public var taskLoss: [Float] = []
    /// Per task: counted targets of its records the loss saw (the weights of `taskLoss`).
    public var taskTokens: [Int] = []
    /// Mean over the generated answers of exact match and F1; NaN when none was generated.
    @BitExact public var exactMatch: Float = .nan
    @BitExact public var f1: Float = .nan
    /// Per task: the same over its answers; NaN for a task with none.
    @BitExact public var taskExactMatch: [Float] = []
    @BitExact public var taskF1: [Float] = []
    /// Every answer generated, in the order the prompts were chosen.
    public var answers: [GeneratedAnswer] = []

    public init() {}

    /// Copies the scores into a round's record (answers go to the store on their own).
    public func fill(_ record: inout RoundRecord) {
        record.evalLoss = loss
        record.evalTaskLoss = taskLoss
        record.evalExactMatch = exactMatch
        record.evalF1 = f1
        record.evalTaskExactMatch = taskExactMatch
        record.evalTaskF1 = taskF1
    }
}
