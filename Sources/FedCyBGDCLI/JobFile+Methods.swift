import Foundation

/// The job keys that choose the algorithm and what travels (docs/METHODS.md), as written.
/// The Federation types parse the spellings (`RunPlan.applyMethods`); this checks the numbers.
public struct MethodKeys: Equatable, Sendable {
    /// `train.algorithm`: fedcybgd, fedavg, fedlora, centralized or badam.
    public var algorithm = "fedcybgd"
    /// `download.codec`: how frozen blocks travel.
    public var downloadCodec = "fp32"
    /// `download.drop_fraction` and `download.drop_rule`: layer dropping.
    public var dropFraction = 0.0
    public var dropRule = "alternate"
    /// `upload.codec`: how the trained units travel back.
    public var uploadCodec = "fp32"
    /// `lora.rank` and `lora.alpha`: the fedlora adapters.
    public var loraRank = 8
    public var loraAlpha = 16.0

    func validate(path: String) throws {
        guard loraRank >= 1 else { throw JobFileError(path, "'lora.rank' must be at least 1 (8 is usual)") }
        guard loraAlpha > 0, loraAlpha.isFinite else { throw JobFileError(path, "'lora.alpha' must be a positive number (often twice lora.rank)") }
        if dropFraction > 0, !["fedcybgd", "badam"].contains(algorithm) {
            throw JobFileError(path, "'download.drop_fraction' drops frozen layers, but train.algorithm = \"\(algorithm)\" trains every layer; remove it or use fedcybgd")
        }
    }

    /// Effective values, each only when it differs from the default, so jobs stored before
    /// these keys existed compare equal on resume.
    var effectiveValues: [(key: String, value: String)] {
        var values: [(String, String)] = []
        let defaults = MethodKeys()
        if algorithm != defaults.algorithm { values.append(("train.algorithm", "\"\(algorithm)\"")) }
        if downloadCodec != defaults.downloadCodec { values.append(("download.codec", "\"\(downloadCodec)\"")) }
        if dropFraction != defaults.dropFraction {
            values.append(("download.drop_fraction", "\(dropFraction)"))
            values.append(("download.drop_rule", "\"\(dropRule)\""))
        }
        if uploadCodec != defaults.uploadCodec { values.append(("upload.codec", "\"\(uploadCodec)\"")) }
        if algorithm == "fedlora" {
            values.append(("lora.rank", "\(loraRank)"))
            values.append(("lora.alpha", "\(loraAlpha)"))
        }
        return values
    }
}

extension TableReader {
    /// Reads `train.algorithm`, `[download]`, `[upload]`, `[lora]` and the `train.clients_per_block` alias.
    func readMethods(into job: inout JobFile) throws {
        var keys = MethodKeys()
        keys.algorithm = try string("train", "algorithm") ?? keys.algorithm
        keys.downloadCodec = try string("download", "codec") ?? keys.downloadCodec
        keys.dropFraction = try double("download", "drop_fraction") ?? keys.dropFraction
        keys.dropRule = try string("download", "drop_rule") ?? keys.dropRule
        keys.uploadCodec = try string("upload", "codec") ?? keys.uploadCodec
        keys.loraRank = try int("lora", "rank") ?? keys.loraRank
        keys.loraAlpha = try double("lora", "alpha") ?? keys.loraAlpha
        job.methods = keys
        if let perBlock = try int("train", "clients_per_block") {
            guard value("train", "clients_per_round") == nil else {
                throw JobFileError(path, "'train.clients_per_block' and 'train.clients_per_round' are the same key (k); set one of them")
            }
            job.clientsPerRound = perBlock
        }
    }
}
