/// Tokens to train or evaluate on: a client's training data, or a corpus's validation data.
public enum TokenData: Sendable, Equatable {
    /// Plain text: one token stream, read as windows of sequence + 1 consecutive tokens.
    case text([TokenID])
    /// Instruction data: records packed into fixed rows whose loss masks skip prompts and padding.
    case rows(TokenRows)

    /// How many positions the data holds: the text's tokens, or the rows' positions (rows ×
    /// sequence), so `train.local_epochs` counts passes over the rows. A client's aggregation weight.
    public var sampleCount: Int {
        switch self {
        case .text(let tokens): return tokens.count
        case .rows(let rows): return rows.count * rows.sequence
        }
    }

    /// Targets the loss counts: every token of the text, or the rows' counted targets (no
    /// prompt, no padding).
    public var countedTokens: Int {
        switch self {
        case .text(let tokens): return tokens.count
        case .rows(let rows): return rows.countedTotal
        }
    }

    /// This data followed by `other`'s. A corpus never mixes text and rows, so both are of one kind.
    public func appending(_ other: TokenData) -> TokenData {
        switch (self, other) {
        case let (.text(tokens), .text(more)): return .text(tokens + more)
        case let (.rows(rows), .rows(more)): return .rows(rows.appending(more))
        default: preconditionFailure("text and instruction rows cannot be joined")
        }
    }
}
