import GPT

/// Layer dropping for the download: job keys `download.drop_fraction` and `download.drop_rule`.
/// The client trains on a sub-model that skips some frozen transformer layers, so it need not
/// download them; the active block is never dropped.
public struct LayerDrop: Sendable, Equatable {
    /// How the dropped layers are chosen among the frozen ones.
    public enum Rule: String, CaseIterable, Sendable {
        /// Evenly spaced over the frozen layers (every other one at fraction 0.5).
        case alternate
        /// Those farthest from the active block first.
        case far

        public init(parsing text: String, key: String = "download.drop_rule") throws {
            self = try Self.parse(text, key: key)
        }
    }

    /// Fraction of the frozen layers to drop, in [0, 1).
    public var fraction: Double
    public var rule: Rule

    public init(fraction: Double = 0, rule: Rule = .alternate) {
        self.fraction = fraction
        self.rule = rule
    }

    /// Checks the fraction; `key` names it in the error.
    public func validated(key: String = "download.drop_fraction") throws -> LayerDrop {
        guard fraction >= 0, fraction < 1 else {
            throw OptionError(key: key, value: "\(fraction)", expected: "a fraction in [0, 1) of the frozen layers to skip")
        }
        return self
    }

    /// The 0-based transformer layers a client skips while training block `activeBlock` of a
    /// model laid out as `layout`. Never the active layer itself; `far` measures distance in
    /// blocks, so the embeddings sit below layer 0 and the final norm above the last layer.
    public func droppedLayers(activeBlock: Int, layout: ParameterLayout) -> Set<Int> {
        let frozen = (0..<layout.config.layers).filter { layout.block(ofLayer: $0) != activeBlock }
        let count = Int((fraction * Double(frozen.count)).rounded(.down))
        guard count > 0 else { return [] }
        switch rule {
        case .alternate:
            // Evenly spaced picks: position (i + 1/2)·m/n for i < n, which at n = m/2 is every other layer.
            return Set((0..<count).map { frozen[Int((Double($0) + 0.5) * Double(frozen.count) / Double(count))] })
        case .far:
            let distance = { (layer: Int) in abs(layout.block(ofLayer: layer) - activeBlock) }
            let byDistance = frozen.sorted {
                let a = distance($0), b = distance($1)
                return a != b ? a > b : $0 > $1
            }
            return Set(byDistance.prefix(count))
        }
    }
}
