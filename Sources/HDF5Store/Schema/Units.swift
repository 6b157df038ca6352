import Corpus

/// The units attribute of a dataset. A loss is per byte with the byte tokenizer and per token
/// with any other, so its text depends on the run's tokenizer (`TextTokenizer.lossUnit`).
enum Units {
    case one, bytes, seconds, tokens, loss

    func text(lossUnit: LossUnit) -> String {
        switch self {
        case .one: return "1"
        case .bytes: return "bytes"
        case .seconds: return "s"
        case .tokens: return "tokens"
        case .loss: return lossUnit.rawValue
        }
    }
}
