/// A token id as the model sees it. Int32 because that is what the GPT engine takes, and it
/// holds any vocabulary (byte-level 256, GPT-2's 50257, or larger), so no narrowing is needed.
public typealias TokenID = Int32

/// One text document of the corpus, e.g. one fortunes category file, already tokenised.
public struct TextDocument: Sendable, Hashable {
    /// The file name (without folder), used as the client name by the by-file partition.
    public let name: String
    /// The document's token ids; with the byte-level tokenizer, its bytes.
    public let tokens: [TokenID]

    // Public so that other modules' tests can build corpora in memory.
    public init(name: String, tokens: [TokenID]) {
        self.name = name
        self.tokens = tokens
    }

    /// A document tokenised byte by byte (each byte is its own id).
    public init(name: String, bytes: [UInt8]) {
        self.init(name: name, tokens: bytes.map { TokenID($0) })
    }
}

/// The byte-level tokenizer: each UTF-8 byte is one token (vocab 256).
///
/// No merges and no vocabulary file: every byte sequence is representable, so any text,
/// valid UTF-8 or not, round-trips through the model's token space.
public struct ByteTokenizer: TextTokenizer {
    public static let vocabSize = 256

    public init() {}

    /// The UTF-8 bytes of `text`.
    public static func encode(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    /// The text of `tokens`. Invalid UTF-8 (a model can sample any byte) becomes U+FFFD
    /// rather than failing, so generated text can always be shown.
    public static func decode(_ tokens: [UInt8]) -> String {
        String(decoding: tokens, as: UTF8.self)
    }

    public var vocabularySize: Int { Self.vocabSize }
    public var endOfText: TokenID? { nil }
    public var fingerprint: UInt64 { 0x6279_7465_2d6c_7631 }  // "byte-lv1": nothing to hash
    /// Each token is a byte, whatever `model.vocab` the model has.
    public var lossUnit: LossUnit { .natsPerByte }

    public func encode(utf8 bytes: [UInt8]) -> [TokenID] {
        bytes.map { TokenID($0) }
    }

    /// Ids outside 0...255 cannot come from this tokenizer; they are shown as U+FFFD.
    public func decode(_ ids: [TokenID]) -> String {
        String(decoding: ids.map { (0...255).contains($0) ? UInt8($0) : 0xFF }, as: UTF8.self)
    }
}

/// The unit of a loss over a tokenizer's tokens: only the byte tokenizer's token is a byte.
public enum LossUnit: String, Sendable {
    case natsPerByte = "nats/byte"
    case natsPerToken = "nats/token"
}

/// Turns text into the model's token ids and back.
public protocol TextTokenizer: Sendable {
    /// One more than the largest id `encode` can produce.
    var vocabularySize: Int { get }
    /// The end-of-text token, if the vocabulary has one.
    var endOfText: TokenID? { get }
    /// A hash of what defines the tokenizer (its files), so cached encodings can be checked.
    var fingerprint: UInt64 { get }
    /// What a loss over its tokens is measured in (nats per token, unless a token is a byte).
    var lossUnit: LossUnit { get }
    /// The ids of UTF-8 text (invalid UTF-8 is tokenised byte by byte, like any other bytes).
    func encode(utf8 bytes: [UInt8]) -> [TokenID]
    /// The text of `ids`; bytes that are not valid UTF-8 become U+FFFD.
    func decode(_ ids: [TokenID]) -> String
    /// The ids of several texts; a tokenizer may share work between them (a word cache).
    func encode(documents: [[UInt8]]) -> [[TokenID]]
}

extension TextTokenizer {
    public var lossUnit: LossUnit { .natsPerToken }

    /// The ids of `text`.
    public func encode(_ text: String) -> [TokenID] { encode(utf8: Array(text.utf8)) }

    public func encode(documents: [[UInt8]]) -> [[TokenID]] { documents.map { encode(utf8: $0) } }
}
