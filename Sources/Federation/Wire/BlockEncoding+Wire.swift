extension BlockEncoding {
    /// One byte naming the codec family on the wire.
    var wireKind: UInt8 { UInt8(Kind.allCases.firstIndex(of: kind)!) }
    /// The codec's parameter on the wire: pruning's density, else 0.
    var wireParameter: Double {
        if case let .prune(density) = self { return density }
        return 0
    }

    init(wireKind: UInt8, parameter: Double) throws {
        guard Int(wireKind) < Kind.allCases.count else { throw WireError.badValue("codec kind \(wireKind)") }
        switch Kind.allCases[Int(wireKind)] {
        case .fp32: self = .fp32
        case .fp16: self = .fp16
        case .bf16: self = .bf16
        case .int8: self = .int8
        case .prune:
            guard parameter > 0, parameter <= 1 else { throw WireError.badValue("prune density \(parameter)") }
            self = .prune(density: parameter)
        }
    }
}
