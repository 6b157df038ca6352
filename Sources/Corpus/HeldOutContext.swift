/// What evaluating instruction data per task and by generation needs besides the held-out
/// records themselves: the task names, how to read generated ids as text and where an answer
/// ends, and how the validation rows were packed.
public struct HeldOutContext: Sendable {
    /// The distinct values of the partition field (the tasks), in UTF-8 order; empty when
    /// records carry none.
    public let tasks: [String]
    /// Reads generated ids as text.
    public let tokenizer: any TextTokenizer
    /// The id that ends every sequence: generation stops there.
    public let endOfSequence: TokenID
    /// The chat template's end-of-message text (`<|im_end|>`, `</s>`): a generated answer is
    /// cut at its first occurrence.
    public let endMarker: String
    /// How the validation rows were built (`train.sequence`, `data.pack`).
    public let sequence: Int
    public let pack: Bool

    public init(tasks: [String], tokenizer: any TextTokenizer, endOfSequence: TokenID, endMarker: String, sequence: Int, pack: Bool) {
        self.tasks = tasks; self.tokenizer = tokenizer; self.endOfSequence = endOfSequence
        self.endMarker = endMarker; self.sequence = sequence; self.pack = pack
    }

    /// The task index of `record` (nil when it has no label).
    public func task(of record: TokenizedRecord) -> Int? {
        record.label.flatMap { label in tasks.firstIndex(of: label) }
    }
}
