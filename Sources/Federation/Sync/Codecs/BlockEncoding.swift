/// How a block travels: the value of the job keys `download.codec` and `upload.codec`.
///
/// Spelled in job files as `"fp32"`, `"fp16"`, `"bf16"`, `"int8"` or `"prune:D"` with the kept
/// fraction D in (0, 1], e.g. `"prune:0.25"`. `description` gives the same spelling back, so a
/// value survives a trip through a job file or a run's record.
public enum BlockEncoding: Sendable, Hashable, CustomStringConvertible {
    /// Exact IEEE single precision, 4 bytes a value.
    case fp32
    /// IEEE half precision, 2 bytes a value, round to nearest even; beyond ±65504 becomes ±inf.
    case fp16
    /// bfloat16 (fp32's top 16 bits, rounded to nearest even), 2 bytes a value, fp32's range.
    case bf16
    /// 1 byte a value, scaled by each row's absolute maximum; the fp32 scales travel too.
    case int8
    /// Magnitude pruning: each tensor keeps its ⌈density·n⌉ largest values; a bitmask plus the kept fp32 values.
    case prune(density: Double)

    /// The encoding's family, without parameters, for saying which families a key allows.
    public enum Kind: String, CaseIterable, Sendable {
        case fp32, fp16, bf16, int8, prune
    }

    /// Every family: what `download.codec` accepts.
    public static let downloadKinds: [Kind] = Kind.allCases
    /// What `upload.codec` accepts: fp32 values, or fp16 or int8 deltas.
    public static let uploadKinds: [Kind] = [.fp32, .fp16, .int8]

    public var kind: Kind {
        switch self {
        case .fp32: return .fp32
        case .fp16: return .fp16
        case .bf16: return .bf16
        case .int8: return .int8
        case .prune: return .prune
        }
    }

    public var description: String {
        if case let .prune(density) = self { return "prune:\(density)" }
        return kind.rawValue
    }

    /// Whether decoding gives back the encoded values bit for bit.
    public var isExact: Bool { self == .fp32 || self == .prune(density: 1) }

    /// The implementation.
    public var codec: any BlockCodec {
        switch self {
        case .fp32: return FP32Codec()
        case .fp16: return FP16Codec()
        case .bf16: return BF16Codec()
        case .int8: return Int8Codec()
        case let .prune(density): return PruneCodec(density: density)
        }
    }

    /// Parses a job-file value for `key`, accepting only the families in `allowed`.
    /// The error names the key and the value and lists every accepted spelling.
    public init(parsing text: String, key: String, allowed: [Kind] = BlockEncoding.downloadKinds) throws {
        let failure = OptionError(key: key, value: OptionError.quoted(text), expected: Self.expected(allowed))
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = Kind(rawValue: String(parts[0])), allowed.contains(kind) else { throw failure }
        switch kind {
        case .prune:
            guard parts.count == 2, let density = Double(parts[1]), density > 0, density <= 1 else { throw failure }
            self = .prune(density: density)
        default:
            guard parts.count == 1 else { throw failure }
            switch kind {
            case .fp32: self = .fp32
            case .fp16: self = .fp16
            case .bf16: self = .bf16
            case .int8: self = .int8
            case .prune: throw failure
            }
        }
    }

    private static func expected(_ allowed: [Kind]) -> String {
        let spellings = allowed.map { $0 == .prune ? "prune:<density>" : $0.rawValue }
        var text = OptionError.oneOf(spellings)
        if allowed.contains(.prune) { text += ", where density is the kept fraction in (0, 1], e.g. \"prune:0.25\"" }
        return text
    }
}
