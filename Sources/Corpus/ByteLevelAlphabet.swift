/// GPT-2's byte-to-unicode table: every byte value is shown as one printable Unicode character,
/// so byte-level vocabularies can be stored as text (`vocab.json`, `merges.txt`).
///
/// Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68
/// bytes, in increasing order, take U+0100, U+0101, …. A space (0x20) is therefore `Ġ` (U+0120)
/// and a newline `Ċ` (U+010A), as in GPT-2's own files.
public enum ByteLevelAlphabet {
    /// `scalars[b]` is the character that stands for byte `b`.
    public static let scalars: [Unicode.Scalar] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table.map { Unicode.Scalar($0)! }
    }()

    /// The byte a character stands for, or nil if it is not one of the 256.
    public static let byteOf: [Unicode.Scalar: UInt8] = {
        var inverse: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in scalars.enumerated() { inverse[scalar] = UInt8(byte) }
        return inverse
    }()

    /// The bytes a vocabulary entry stands for, or nil when some character is not in the table
    /// (an added token written as plain text).
    public static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byteOf[scalar] else { return nil }
            out.append(byte)
        }
        return out
    }

    /// The vocabulary text of `bytes`.
    public static func text(of bytes: [UInt8]) -> String {
        var out = String.UnicodeScalarView()
        for byte in bytes { out.append(scalars[Int(byte)]) }
        return String(out)
    }
}
