/// Values that `BitExact` can compare by their bits.
public protocol BitComparable: Sendable {
    func hasSameBits(as other: Self) -> Bool
}

extension Float: BitComparable {
    public func hasSameBits(as other: Float) -> Bool { bitPattern == other.bitPattern }
}

extension Double: BitComparable {
    public func hasSameBits(as other: Double) -> Bool { bitPattern == other.bitPattern }
}

extension Array: BitComparable where Element: BitComparable {
    public func hasSameBits(as other: [Element]) -> Bool {
        count == other.count && zip(self, other).allSatisfy { $0.hasSameBits(as: $1) }
    }
}
