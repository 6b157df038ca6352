import GPT

/// The units attribute of a dataset. A loss is per byte for a byte-level model (vocabulary
/// 256) and per token for a BPE model, so its text depends on the run's model.
enum Units {
    case one, bytes, seconds, tokens, loss

    func text(config: GPTConfig?) -> String {
        switch self {
        case .one: return "1"
        case .bytes: return "bytes"
        case .seconds: return "s"
        case .tokens: return "tokens"
        case .loss: return config.map { $0.vocabSize != 256 } == true ? "nats/token" : "nats/byte"
        }
    }
}
