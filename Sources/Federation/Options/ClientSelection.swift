import Determinism

/// How each round picks its k clients: job key `train.client_selection`.
public enum ClientSelection: String, CaseIterable, Sendable {
    /// The next k clients after the previous round's, wrapping around: every client is used in
    /// turn, and over ⌈N/k⌉ rounds every client trains. When the rotation would bring each place
    /// of the cycle back to the same clients, it skips one turn each time it has come round
    /// (`skippedTurns`), so every block meets every client.
    case cyclic
    /// k distinct clients drawn uniformly without replacement, afresh each round, from the seed
    /// and the round alone (a client may train in consecutive rounds).
    case random

    /// Sub-stream 1 of the schedule purpose (block orders use 0), keyed by the round.
    static let stream: UInt64 = 1

    /// The clients 1-based `round` trains, out of `count`, in a schedule whose cycle visits
    /// `cycleLength` blocks (1 when every round trains every block). Cyclic lists them in turn
    /// order; random lists them ascending, which is the order the server aggregates in anyway.
    public func clients(round: Int, count: Int, k: Int, seed: UInt64, cycleLength: Int = 1) -> [Int] {
        precondition(count > 0 && (1...count).contains(k), "cannot pick \(k) of \(count) clients")
        switch self {
        case .cyclic:
            let first = (round - 1 + Self.skippedTurns(round: round, cycleLength: cycleLength, count: count, k: k)) * k
            return (0..<k).map { (first + $0) % count }
        case .random:
            var rng = CounterRNG(seed: seed, purpose: .schedule, round: UInt64(truncatingIfNeeded: round), client: Self.stream)
            return Self.sample(k, of: count, using: &rng).sorted()
        }
    }

    /// The turns of k clients the cyclic rotation has skipped by 1-based `round`. A cycle of L
    /// rounds advances the rotation by L·k clients, so the rounds at one place of the cycles start
    /// only at clients of one class modulo g = gcd(L·k, N); when g > k their clients never reach
    /// the others, and that place's block never meets them. Then the rotation skips a turn each
    /// time it has come back to where it started (every N/g cycles), so that within N/gcd(N, k)
    /// cycles each place has met every client. Otherwise (g ≤ k, as for the demo's 43 clients,
    /// k = 3 and 6 blocks) nothing is skipped and the rotation is the plain one.
    static func skippedTurns(round: Int, cycleLength: Int, count: Int, k: Int) -> Int {
        let period = greatestCommonDivisor(cycleLength * k, count)
        guard period > k else { return 0 }
        return ((round - 1) / cycleLength) / (count / period)
    }

    private static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int { b == 0 ? a : greatestCommonDivisor(b, a % b) }

    /// A partial Fisher–Yates: the first k positions of a shuffle of 0..<count. Sparse, so a
    /// round costs O(k) even with a million clients.
    static func sample(_ k: Int, of count: Int, using rng: inout CounterRNG) -> [Int] {
        var swapped: [Int: Int] = [:]
        var picked: [Int] = []
        picked.reserveCapacity(k)
        for i in 0..<k {
            let j = i + rng.nextInt(below: count - i)
            let atJ = swapped[j] ?? j
            swapped[j] = swapped[i] ?? i
            picked.append(atJ)
        }
        return picked
    }

    public init(parsing text: String, key: String = "train.client_selection") throws {
        self = try Self.parse(text, key: key)
    }
}
