import Determinism
import Foundation

/// A controlled non-IID split: N clients, and for each label (a corpus file) client proportions
/// drawn from Dirichlet(alpha). Small alpha gives each client a few dominant labels; large alpha
/// gives every client nearly the corpus-wide mix. Job: `data.partition = "dirichlet"`,
/// `data.dirichlet_alpha`, `data.clients`.
///
/// Each file's training head (validation tails are held out exactly as `federate` does, so eval
/// losses stay comparable across partitions) is cut into whole windows of sequence + 1 tokens,
/// and each client receives ⌊share⌉ of them (largest remainders, ties to the lower client) as one
/// contiguous piece, clients in order along the file; the bytes after the last whole window go
/// with the piece of the client holding the most windows of that file (the client with the
/// largest drawn share, if the file has no whole window), so every token is used. A client's
/// text is its pieces in file order; sampled windows may straddle two pieces, as in `iid`.
///
/// A client left with no whole window at all takes one from another: of the files, in the order
/// of its own drawn shares, the first where some client holding two or more windows in total has
/// one (the one with the most of that file, ties to the lower id) gives up one window. So every
/// client can train, client ids stay 0..<N, no re-draw loops, and the mix moves by one window.
public struct DirichletPartition: Sendable {
    public let corpus: FederatedCorpus
    /// The labels: document names, in document order (the columns of `labelTokens`).
    public let labels: [String]
    /// [client][label]: training tokens of each label each client holds, for the run's record.
    public let labelTokens: [[Int]]

    /// Training tokens per client (the rows' sums): the aggregation weights.
    public var clientSizes: [Int] { labelTokens.map { $0.reduce(0, +) } }

    /// Mean over clients of the entropy (nats) of the client's token mix over labels:
    /// 0 when every client holds a single label, ln(labels) at most.
    public var meanLabelEntropy: Double {
        mean(labelTokens.map { row in
            let total = Double(row.reduce(0, +))
            return row.reduce(0.0) { h, count in
                count == 0 ? h : h - Double(count) / total * Foundation.log(Double(count) / total)
            }
        })
    }

    /// Mean over clients of the share of the client's tokens from its largest label.
    public var meanLargestLabelShare: Double {
        mean(labelTokens.map { Double($0.max() ?? 0) / Double(max($0.reduce(0, +), 1)) })
    }

    private func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Splits `documents` for `clients` clients with concentration `alpha`, every draw from
    /// `CounterRNG(seed, .partition, round: label index)`.
    public init(documents: [TextDocument], clients: Int, alpha: Double, seed: UInt64,
                validationFraction: Double, sequence: Int) throws {
        try Self.check(clients: clients, alpha: alpha, validationFraction: validationFraction, sequence: sequence)
        let splits = documents.map { DocumentSplit($0, fraction: validationFraction) }
        let window = sequence + 1
        let windows = splits.map { $0.head.count / window }
        let totalWindows = windows.reduce(0, +)
        guard totalWindows >= clients else {
            throw CorpusError.invalidSetting(
                name: "data.clients", value: "\(clients)",
                expected: "at most \(totalWindows): the training text holds \(totalWindows) whole windows of \(window) "
                    + "tokens (sequence + 1) and every Dirichlet client needs one; or shorten train.sequence")
        }
        var draws: [[Double]] = []
        var counts: [[Int]] = []
        for (label, labelWindows) in windows.enumerated() {
            var rng = CounterRNG(seed: seed, purpose: .partition, round: UInt64(label))
            let shares = DirichletDraw.sample(alpha: alpha, count: clients, rng: &rng)
            draws.append(shares)
            counts.append(DirichletDraw.apportion(labelWindows, shares: shares))
        }
        var notices: [String] = []
        DirichletDraw.repairEmptyClients(&counts, draws: draws, labels: splits.map(\.name), notices: &notices)
        let (shards, mix) = Self.assemble(splits, counts: counts, draws: draws, window: window)
        corpus = FederatedCorpus(clients: shards, validation: .text(DocumentSplit.heldOutText(splits)), notices: notices)
        labels = splits.map(\.name)
        labelTokens = mix
    }

    private static func check(clients: Int, alpha: Double, validationFraction: Double, sequence: Int) throws {
        guard alpha.isFinite, alpha > 0 else {
            throw CorpusError.invalidSetting(name: "data.dirichlet_alpha", value: "\(alpha)",
                                             expected: "a positive concentration, e.g. 0.1 (skewed) to 100 (near IID)")
        }
        guard clients > 0 else {
            throw CorpusError.invalidSetting(name: "data.clients", value: "\(clients)", expected: "a positive count")
        }
        guard validationFraction.isFinite, validationFraction >= 0, validationFraction < 1 else {
            throw CorpusError.invalidSetting(name: "data.validation_fraction", value: "\(validationFraction)",
                                             expected: "a fraction in [0, 1), e.g. 0.1")
        }
        guard sequence > 0 else {
            throw CorpusError.invalidSetting(name: "train.sequence", value: "\(sequence)", expected: "a positive length, e.g. 128")
        }
    }

    /// Cuts each file into its clients' contiguous pieces; returns the shards and the [client][label] mix.
    private static func assemble(_ splits: [DocumentSplit], counts: [[Int]], draws: [[Double]],
                                 window: Int) -> ([ClientShard], [[Int]]) {
        let clients = draws.first?.count ?? 0
        var tokens = [[TokenID]](repeating: [], count: clients)
        var mix = [[Int]](repeating: [Int](repeating: 0, count: splits.count), count: clients)
        for (label, split) in splits.enumerated() {
            let spare = split.head.count - counts[label].reduce(0, +) * window
            let taker = counts[label].reduce(0, +) > 0 ? DirichletDraw.argmax(counts[label].map(Double.init))
                                                       : DirichletDraw.argmax(draws[label])
            var start = split.head.startIndex
            for client in 0..<clients {
                let length = counts[label][client] * window + (client == taker ? spare : 0)
                tokens[client].append(contentsOf: split.head[start..<(start + length)])
                mix[client][label] = length
                start += length
            }
        }
        let shards = tokens.enumerated().map { ClientShard(client: $0.offset, name: "dirichlet-\($0.offset)", data: .text($0.element)) }
        return (shards, mix)
    }
}

/// The random and the rounding parts of the Dirichlet partition.
enum DirichletDraw {
    /// Client shares for one label: Gamma(alpha) draws, normalised. Worked in logs, because for
    /// small alpha a Gamma draw is often below Double's smallest number and all of them can be.
    static func sample(alpha: Double, count: Int, rng: inout CounterRNG) -> [Double] {
        let logs = (0..<count).map { _ in logGamma(shape: alpha, rng: &rng) }
        let top = logs.max() ?? 0
        let weights = logs.map { Foundation.exp($0 - top) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// The log of a Gamma(shape, 1) draw by Marsaglia and Tsang (2000).
    static func logGamma(shape: Double, rng: inout CounterRNG) -> Double {
        if shape < 1 {
            // Their boost: Gamma(a) = Gamma(a + 1) · U^(1/a), added in logs.
            let u = unitOpen(&rng)
            return logGamma(shape: shape + 1, rng: &rng) + Foundation.log(u) / shape
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = rng.nextGaussian()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = unitOpen(&rng)
            if u < 1 - 0.0331 * x * x * x * x || Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) {
                return Foundation.log(d * v)
            }
        }
    }

    /// Uniform in (0, 1): never 0, whose log would be -inf.
    static func unitOpen(_ rng: inout CounterRNG) -> Double {
        (Double(rng.next() >> 11) + 0.5) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Splits `total` whole units by `shares` with the largest-remainder method: floors first,
    /// then one more to the largest fractional parts, ties to the lower index.
    static func apportion(_ total: Int, shares: [Double]) -> [Int] {
        let quotas = shares.map { $0 * Double(total) }
        var counts = quotas.map { Int($0.rounded(.down)) }
        let left = total - counts.reduce(0, +)
        let order = quotas.indices.sorted {
            let a = quotas[$0] - quotas[$0].rounded(.down), b = quotas[$1] - quotas[$1].rounded(.down)
            return a != b ? a > b : $0 < $1
        }
        for t in 0..<max(left, 0) { counts[order[t % order.count]] += 1 }
        return counts
    }

    /// Gives each client with no window one window, by the rule in `DirichletPartition`'s doc.
    /// `counts` is [label][client]. Needs at least as many windows as clients.
    static func repairEmptyClients(_ counts: inout [[Int]], draws: [[Double]], labels: [String], notices: inout [String]) {
        guard let clients = counts.first?.count else { return }
        var totals = (0..<clients).map { client in counts.reduce(0) { $0 + $1[client] } }
        for client in 0..<clients where totals[client] == 0 {
            let preference = counts.indices.sorted { draws[$0][client] != draws[$1][client] ? draws[$0][client] > draws[$1][client] : $0 < $1 }
            for label in preference {
                let donors = (0..<clients).filter { totals[$0] >= 2 && counts[label][$0] > 0 }
                guard let donor = donors.max(by: { counts[label][$0] != counts[label][$1] ? counts[label][$0] < counts[label][$1] : $0 > $1 }) else { continue }
                counts[label][donor] -= 1
                counts[label][client] += 1
                totals[donor] -= 1
                totals[client] += 1
                notices.append("dirichlet: client \(client) drew no whole window; it takes one window of '\(labels[label])' from client \(donor)")
                break
            }
        }
    }

    /// Index of the largest value, ties to the lower index.
    static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}
