/// How big an update is: the L2 distance between the trained units' values before and after it,
/// and its RMS, the L2 distance over √n. The history records the L2 distance of the change a
/// round installed (`RoundRecord.updateNorm`); the norm guard screens each upload's RMS, which is
/// comparable across blocks of different sizes (`UpdateNormGuard`).
public struct UpdateSize: Sendable, Equatable {
    /// Σ (after − before)², summed in Double in index order.
    public let sumOfSquares: Double
    /// n, the values compared.
    public let count: Int

    public init(from before: UnsafeBufferPointer<Float>, to after: UnsafeBufferPointer<Float>) {
        precondition(before.count == after.count, "an update compares \(before.count) values with \(after.count)")
        var sum = 0.0
        for i in 0..<before.count {
            let d = Double(after[i]) - Double(before[i])
            sum += d * d
        }
        sumOfSquares = sum
        count = before.count
    }

    /// The Euclidean distance between the values before and after.
    public var l2Distance: Double { sumOfSquares.squareRoot() }

    /// `l2Distance / √n`, computed as √(Σ / n): the two can differ in the last bit, and this is
    /// the form the guard's checkpointed norms (`/state/update_norms`) have always held. 0 for no values.
    public var rms: Double { count == 0 ? 0 : (sumOfSquares / Double(count)).squareRoot() }
}
