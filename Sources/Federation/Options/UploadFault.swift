/// Deliberately faulty clients, for robustness experiments and tests of the server's checks:
/// a listed client corrupts every upload it sends, in the way given.
public enum UploadFault: String, Sendable, CaseIterable {
    /// One value of the block becomes NaN.
    case nan
    /// The body loses its last 8 bytes.
    case short
    /// Every value is multiplied by 1000.
    case scale1000
    /// The body is followed by 1 MiB of zeros.
    case huge

    /// Parses "3:nan,5:scale1000" into client → fault; the message names the bad entry.
    public static func parse(_ text: String) throws -> [Int: UploadFault] {
        var faults: [Int: UploadFault] = [:]
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let client = Int(parts[0]), client >= 0, let fault = UploadFault(rawValue: String(parts[1])) else {
                throw OptionError(key: "FEDCYBGD_FAULTS", value: String(entry),
                                  expected: "client:fault pairs such as 3:nan, with fault one of \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            faults[client] = fault
        }
        return faults
    }

    /// The corrupted body this fault sends instead of `body`.
    /// The trained values this client pretends to have, before encoding.
    func corrupt(values: [Float]) -> [Float] {
        var values = values
        switch self {
        case .nan: if !values.isEmpty { values[values.count / 2] = .nan }
        case .scale1000: for i in values.indices { values[i] *= 1000 }
        case .short, .huge: break
        }
        return values
    }

    /// The encoded body this client sends.
    func corrupt(body: [UInt8]) -> [UInt8] {
        var bytes = body
        if self == .short { bytes.removeLast(min(8, bytes.count)) }
        if self == .huge { bytes += [UInt8](repeating: 0, count: 1 << 20) }
        return bytes
    }
}
