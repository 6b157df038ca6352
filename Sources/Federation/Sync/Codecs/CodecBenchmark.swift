import Determinism

/// Encode and decode speed of every codec on one synthetic block, for a `bench` command to print
/// (speed is measured by commands, not by tests).
public enum CodecBenchmark {
    /// One codec's figures: median times over the repetitions, the payload size and the worst error.
    public struct Result: Sendable, CustomStringConvertible {
        public let encoding: BlockEncoding
        public let values: Int
        public let bytes: Int
        public let encodeSeconds: Double
        public let decodeSeconds: Double
        public let maxAbsoluteError: Double

        public var description: String {
            let ms = { (s: Double) in String(Int((s * 1e6).rounded())) + " µs" }
            return "\(encoding.description): \(values) values → \(bytes) bytes, encode \(ms(encodeSeconds)), "
                + "decode \(ms(decodeSeconds)), max |error| \(maxAbsoluteError)"
        }
    }

    /// The encodings measured by default: each download family, pruning at a quarter.
    public static let encodings: [BlockEncoding] = [.fp32, .fp16, .bf16, .int8, .prune(density: 0.25)]

    /// Times `repetitions` encodes and decodes of `count` normal(0, 0.02) values (GPT-2's
    /// initial scale) in rows of `rowLength`.
    public static func run(count: Int = 1 << 20, rowLength: Int = 1024, repetitions: Int = 7,
                           encodings: [BlockEncoding] = CodecBenchmark.encodings) -> [Result] {
        precondition(count > 0 && count % rowLength == 0 && repetitions > 0)
        var rng = CounterRNG(seed: 1, purpose: .sampling)
        let values = (0..<count).map { _ in Float(rng.nextGaussian() * 0.02) }
        var decoded = [Float](repeating: 0, count: count)
        let rows = RowLayout.uniform(count: count, rowLength: rowLength)
        return encodings.map { encoding in
            let codec = encoding.codec
            var payload: [UInt8] = []
            var encodeTimes: [Double] = [], decodeTimes: [Double] = []
            for _ in 0..<repetitions {
                let start = MonotonicClock.now()
                payload = values.withUnsafeBufferPointer { codec.encode(values: $0, rows: rows) }
                let middle = MonotonicClock.now()
                // A payload produced by the same codec always decodes.
                try! decoded.withUnsafeMutableBufferPointer { try codec.decode(payload, into: $0, rows: rows) }
                encodeTimes.append(middle - start)
                decodeTimes.append(MonotonicClock.now() - middle)
            }
            let error = zip(values, decoded).reduce(0.0) { Swift.max($0, Double(Swift.abs($1.0 - $1.1))) }
            return Result(encoding: encoding, values: count, bytes: payload.count,
                          encodeSeconds: encodeTimes.sorted()[repetitions / 2],
                          decodeSeconds: decodeTimes.sorted()[repetitions / 2], maxAbsoluteError: error)
        }
    }
}
