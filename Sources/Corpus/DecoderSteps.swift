/// One step of a `tokenizer.json` decoder, turning the list of token strings into fewer or
/// different strings, as `tokenizers`' `decode_chain` does; the final strings are joined.
enum DecoderStep: Equatable, Sendable {
    /// Each token's characters back to bytes through the byte-to-unicode table (a token with a
    /// character outside it is taken as its own UTF-8), all joined into one lossy UTF-8 string.
    case byteLevel
    case replace(pattern: [UInt8], content: [UInt8])
    /// Runs of `<0xXX>` tokens become their UTF-8 text, or one U+FFFD per byte when invalid.
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Up to `start` leading and `stop` trailing `content` characters cut from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// `replacement` becomes a space, except in the first token when a prefix was prepended.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)

    /// The strings after this step.
    func apply(_ tokens: [[UInt8]]) -> [[UInt8]] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                if let raw = ByteLevelAlphabet.bytes(of: String(decoding: token, as: UTF8.self)) {
                    bytes.append(contentsOf: raw)
                } else {
                    bytes.append(contentsOf: token)
                }
            }
            return [Array(String(decoding: bytes, as: UTF8.self).utf8)]
        case .replace(let pattern, let content):
            return tokens.map { NormalizerStep.replace(pattern: pattern, content: content).apply($0) }
        case .byteFallback:
            return Self.fallBack(tokens)
        case .fuse:
            return [tokens.flatMap { $0 }]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let scalars = Array(String(decoding: token, as: UTF8.self).unicodeScalars)
                var from = 0, to = scalars.count
                while from < min(start, scalars.count) && scalars[from] == content { from += 1 }
                while scalars.count - to < stop && to > from && scalars[to - 1] == content { to -= 1 }
                var out = String.UnicodeScalarView()
                out.append(contentsOf: scalars[from..<to])
                return Array(String(out).utf8)
            }
        case .metaspace(let replacement, let prependScheme):
            return tokens.enumerated().map { index, token in
                var out = String.UnicodeScalarView()
                for scalar in String(decoding: token, as: UTF8.self).unicodeScalars {
                    if scalar != replacement { out.append(scalar) } else if index != 0 || prependScheme == .never { out.append(" ") }
                }
                return Array(String(out).utf8)
            }
        }
    }

    /// The byte value of a `<0xXX>` token.
    private static func fallbackByte(_ token: [UInt8]) -> UInt8? {
        guard token.count == 6, token.starts(with: Array("<0x".utf8)), token.last == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: token[3..<5], as: UTF8.self), radix: 16)
    }

    private static func fallBack(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if Array(String(decoding: pending, as: UTF8.self).utf8) == pending {
                out.append(pending)
            } else {
                out.append(contentsOf: Array(repeating: Array("\u{FFFD}".utf8), count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = fallbackByte(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }
}
