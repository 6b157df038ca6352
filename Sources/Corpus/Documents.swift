/// One text document of the corpus, e.g. one fortunes category file, already tokenised to bytes.
public struct TextDocument: Sendable, Hashable {
    /// The file name (without folder), used as the client name by the by-file partition.
    public let name: String
    /// The document's raw bytes; with the byte-level tokenizer these are its tokens.
    public let tokens: [UInt8]

    // Public so that other modules' tests can build corpora in memory.
    public init(name: String, tokens: [UInt8]) {
        self.name = name
        self.tokens = tokens
    }
}

/// The byte-level tokenizer: each UTF-8 byte is one token (vocab 256).
///
/// No merges and no vocabulary file: every byte sequence is representable, so any text,
/// valid UTF-8 or not, round-trips through the model's token space.
public enum ByteTokenizer {
    public static let vocabSize = 256

    /// The UTF-8 bytes of `text`.
    public static func encode(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    /// The text of `tokens`. Invalid UTF-8 (a model can sample any byte) becomes U+FFFD
    /// rather than failing, so generated text can always be shown.
    public static func decode(_ tokens: [UInt8]) -> String {
        String(decoding: tokens, as: UTF8.self)
    }
}
