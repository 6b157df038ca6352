/// A record as token ids, with the positions the loss counts.
public struct TokenizedRecord: Sendable, Hashable {
    /// The 1-based line of the file the record came from.
    public let line: Int
    /// The record's value of the partition field, if any.
    public let label: String?
    /// Prompt, response and the end-of-sequence token, in order.
    public let tokens: [TokenID]
    /// Per token: whether predicting it counts in the loss (response tokens and the final
    /// end-of-sequence token); prompt tokens do not.
    public let counted: [Bool]
    /// How many tokens come before the final response: the prompt a generation evaluation gives.
    public let promptLength: Int
    /// The final response's words: the reference a generation evaluation compares against.
    public let reference: String

    // Public so that other modules' tests can build records in memory.
    public init(line: Int, label: String?, tokens: [TokenID], counted: [Bool], promptLength: Int, reference: String) {
        precondition(tokens.count == counted.count, "one flag per token")
        self.line = line; self.label = label; self.tokens = tokens; self.counted = counted
        self.promptLength = promptLength; self.reference = reference
    }

    /// Tokens the loss counts.
    public var countedTokens: Int { counted.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// Renders and tokenises records for training.
///
/// Each segment of a rendered record is tokenised on its own (no token spans the prompt and the
/// response, so the mask is exact, and a prompt is tokenised at training as it is at generation
/// time), without the tokenizer's special tokens; the end-of-sequence token follows the last one.
public enum InstructionEncoder {
    /// The byte tokenizer has no spare id, so ASCII's own "end of text" control byte (0x03)
    /// ends a sequence; no text a person writes holds it, and a record that does is bad.
    public static let byteEndOfSequence: TokenID = 3

    /// The id that ends every sequence: the tokenizer's end-of-text token, or 0x03 for bytes.
    public static func endOfSequence(_ tokenizer: any TextTokenizer) -> TokenID {
        tokenizer.endOfText ?? byteEndOfSequence
    }

    /// Encodes `records`; a record longer than `maxTokens` (train.sequence + 1, one row) or,
    /// with the byte tokenizer, holding byte 0x03, is bad.
    public static func encode(_ records: [InstructionRecord], templates: PromptTemplates, tokenizer: any TextTokenizer,
                              maxTokens: Int) -> (records: [TokenizedRecord], bad: [BadRecord]) {
        let rendered = records.map { templates.render($0.body) }
        let texts = rendered.flatMap { $0.segments.map { Array($0.text.utf8) } }
        let ids = encodeSegments(texts, tokenizer: tokenizer)
        let end = endOfSequence(tokenizer)
        let checksEndByte = tokenizer is ByteTokenizer
        var encoded: [TokenizedRecord] = []
        var bad: [BadRecord] = []
        var next = 0
        for (record, form) in zip(records, rendered) {
            var tokens: [TokenID] = []
            var counted: [Bool] = []
            var promptLength = 0
            for (index, segment) in form.segments.enumerated() {
                if index == form.finalResponse { promptLength = tokens.count }
                tokens += ids[next]
                counted += [Bool](repeating: segment.isResponse, count: ids[next].count)
                next += 1
            }
            tokens.append(end)
            counted.append(true)
            if checksEndByte, tokens.dropLast().contains(end) {
                bad.append(BadRecord(line: record.line, reason: "holds byte 0x03, which ends sequences with data.tokenizer = \"byte\""))
            } else if tokens.count > maxTokens {
                bad.append(BadRecord(line: record.line, reason: "\(tokens.count) tokens with its template and end-of-sequence token, "
                    + "more than train.sequence + 1 = \(maxTokens); raise train.sequence or shorten the record"))
            } else {
                encoded.append(TokenizedRecord(line: record.line, label: record.label, tokens: tokens, counted: counted,
                                               promptLength: promptLength, reference: form.reference))
            }
        }
        return (encoded, bad)
    }

    /// Every segment's ids, with one shared word cache, and no special tokens around them.
    static func encodeSegments(_ texts: [[UInt8]], tokenizer: any TextTokenizer) -> [[TokenID]] {
        if let huggingFace = tokenizer as? HuggingFaceTokenizer {
            return huggingFace.encode(documents: texts, addSpecialTokens: false)
        }
        return tokenizer.encode(documents: texts)
    }
}
