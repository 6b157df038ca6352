/// The run-wide measurements a summary reports, accumulated from the round records: bytes per
/// client and peak memory. Seeded from the stored history when a run resumes, so the summary
/// covers the whole run and equals what the history's rows add up to.
public struct RunMeasures: Sendable, Equatable {
    /// Download charge plus upload bytes of every client that took part in a round, by client.
    public private(set) var clientBytes: [Int: Int] = [:]
    /// Largest `rankPeakRSS` of a rank hosting clients (rank 0 in one-rank rounds); -1: none measured.
    public private(set) var peakClientRSS = -1
    /// Largest `rankPeakRSS[0]`; -1: none measured.
    public private(set) var peakServerRSS = -1
    /// Exact match and F1 of the last round that generated answers (NaN before one).
    @BitExact public private(set) var lastExactMatch: Float = .nan
    @BitExact public private(set) var lastF1: Float = .nan

    public init() {}

    /// The measures of the rows a run already has.
    public init(history: [RoundRecord]) {
        for record in history { add(record) }
    }

    public mutating func add(_ record: RoundRecord) {
        if !record.evalExactMatch.isNaN { (lastExactMatch, lastF1) = (record.evalExactMatch, record.evalF1) }
        for (index, client) in record.clients.enumerated() {
            let down = index < record.clientBytesDown.count ? max(0, record.clientBytesDown[index]) : 0
            let up = index < record.clientBytesUp.count ? max(0, record.clientBytesUp[index]) : 0
            clientBytes[client, default: 0] += down + up
        }
        guard let server = record.rankPeakRSS.first else { return }
        peakServerRSS = max(peakServerRSS, server)
        let clientRanks = record.rankPeakRSS.count == 1 ? record.rankPeakRSS : Array(record.rankPeakRSS.dropFirst())
        peakClientRSS = max(peakClientRSS, clientRanks.max() ?? -1)
    }

    /// Mean over the clients that took part of their bytes down + up; 0 before any round.
    public var bytesPerClientMean: Double {
        clientBytes.isEmpty ? 0 : Double(clientBytes.values.reduce(0, +)) / Double(clientBytes.count)
    }

    public var bytesPerClientMax: Int { clientBytes.values.max() ?? 0 }

    /// Copies the measures into a summary.
    public func fill(_ summary: inout RunSummary) {
        summary.bytesPerClientMean = bytesPerClientMean
        summary.bytesPerClientMax = bytesPerClientMax
        summary.peakClientRSS = peakClientRSS
        summary.peakServerRSS = peakServerRSS
        summary.finalExactMatch = lastExactMatch
        summary.finalF1 = lastF1
    }
}
