/// How much a client trains per visit: job key `train.local_steps` or `train.local_epochs`.
public enum LocalWork: Sendable, Equatable {
    /// E steps, whatever the client holds (the paper's setting).
    case steps(Int)
    /// Enough steps to draw, in expectation, `epochs` times the client's tokens: a client with
    /// ten times the text trains ten times as long. Windows are sampled with replacement, so an
    /// "epoch" is a token budget, not a pass that sees every window once.
    case epochs(Double)

    /// Steps for a client holding `tokens` training tokens: ⌈epochs · tokens / (batch · sequence)⌉,
    /// at least 1 (a product within 1e-9 of a whole number counts as that number).
    public func steps(forClientTokens tokens: Int, batch: Int, sequence: Int) -> Int {
        switch self {
        case let .steps(count):
            return count
        case let .epochs(epochs):
            let exact = epochs * Double(tokens) / Double(batch * sequence)
            let nearest = exact.rounded()
            let steps = Swift.abs(exact - nearest) <= 1e-9 * Swift.max(1, exact) ? nearest : exact.rounded(.up)
            return Swift.max(1, Int(steps))
        }
    }

    /// Reads the two job values; at most one may be set, and neither gives the default 10 steps.
    public init(steps: Int?, epochs: Double?) throws {
        switch (steps, epochs) {
        case (.some, .some):
            throw OptionError(key: "train.local_epochs", value: "\(epochs!)",
                              expected: "no value when train.local_steps is set; set one of the two")
        case let (.some(steps), nil):
            guard steps > 0 else {
                throw OptionError(key: "train.local_steps", value: "\(steps)", expected: "a positive step count, e.g. 10")
            }
            self = .steps(steps)
        case let (nil, .some(epochs)):
            guard epochs.isFinite, epochs > 0 else {
                throw OptionError(key: "train.local_epochs", value: "\(epochs)", expected: "a positive number of epochs, e.g. 1 or 0.5")
            }
            self = .epochs(epochs)
        case (nil, nil):
            self = .steps(10)
        }
    }
}
