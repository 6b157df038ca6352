/// SQuAD's answer scores (Rajpurkar et al. 2016, the official evaluation script): exact match
/// and token F1 of a generated answer against a reference, after the same normalisation.
///
/// Normalisation, in SQuAD's order: lower case, remove ASCII punctuation (Python's
/// `string.punctuation`), replace the whole words a, an and the by a space (a word is a run of
/// letters, digits and underscores, as Python's `\b` sees them), and collapse whitespace. The
/// F1 counts the whitespace tokens the two answers share (with multiplicity). Works on Unicode
/// scalars, as Python does on code points. When either answer normalises to nothing, F1 is 1 if
/// both do and 0 otherwise (SQuAD 2.0's rule; SQuAD 1.1 divides by zero there).
public enum AnswerScore {
    /// `text` normalised as SQuAD normalises answers.
    public static func normalize(_ text: String) -> String {
        var kept = String.UnicodeScalarView()
        for scalar in text.lowercased().unicodeScalars where !isASCIIPunctuation(scalar) { kept.append(scalar) }
        return collapseWhitespace(removeArticles(kept))
    }

    /// The normalised whitespace tokens of `text`.
    public static func tokens(_ text: String) -> [Substring] {
        normalize(text).split(separator: " ")
    }

    /// 1 when the two answers normalise to the same text, else 0.
    public static func exactMatch(_ answer: String, reference: String) -> Double {
        normalize(answer) == normalize(reference) ? 1 : 0
    }

    /// Harmonic mean of the precision and recall of the answer's tokens against the reference's.
    public static func f1(_ answer: String, reference: String) -> Double {
        let predicted = tokens(answer), expected = tokens(reference)
        guard !predicted.isEmpty, !expected.isEmpty else { return predicted.isEmpty && expected.isEmpty ? 1 : 0 }
        var remaining: [Substring: Int] = [:]
        for token in expected { remaining[token, default: 0] += 1 }
        var shared = 0
        for token in predicted where (remaining[token] ?? 0) > 0 {
            remaining[token]! -= 1
            shared += 1
        }
        guard shared > 0 else { return 0 }
        let precision = Double(shared) / Double(predicted.count), recall = Double(shared) / Double(expected.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// `" ".join(text.split())`: whitespace runs become one space, none at either end.
    private static func collapseWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var gap = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace { gap = !out.isEmpty; continue }
            if gap { out.append(" "); gap = false }
            out.append(scalar)
        }
        return String(out)
    }

    private static func isASCIIPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    /// Python's `\w`: letters, digits (any numeric character) and the underscore.
    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// `re.sub(r"\b(a|an|the)\b", " ", text)`: each whole word a, an or the becomes a space.
    private static func removeArticles(_ scalars: String.UnicodeScalarView) -> String {
        var out = String.UnicodeScalarView()
        var word = String.UnicodeScalarView()
        func flush() {
            let text = String(word)
            if text == "a" || text == "an" || text == "the" { out.append(" ") } else { out.append(contentsOf: word) }
            word = String.UnicodeScalarView()
        }
        for scalar in scalars {
            if isWordScalar(scalar) { word.append(scalar); continue }
            flush()
            out.append(scalar)
        }
        flush()
        return String(out)
    }
}
