import Federation

/// The attributes of `/summary` in history.h5, each declared once; each also gets
/// `<name>_units` and `<name>_description`. docs/RUN-FILES.md describes the same.
enum SummarySchema {
    /// One attribute: name, units, description, element type and where it lives in a `RunSummary`.
    struct Attribute {
        let name: String
        let units: Units
        let description: String
        let element: ElementType
        let read: @Sendable (RunSummary) -> Cells
        let write: @Sendable (inout RunSummary, Cells) -> Void

        static func int(_ name: String, _ units: Units, _ description: String,
                        _ path: WritableKeyPath<RunSummary, Int> & Sendable) -> Attribute {
            Attribute(name: name, units: units, description: description, element: .int64,
                      read: { .ints([$0[keyPath: path]]) }, write: { $0[keyPath: path] = $1.ints.first ?? 0 })
        }

        static func float(_ name: String, _ description: String, _ path: WritableKeyPath<RunSummary, Float> & Sendable,
                          units: Units = .loss) -> Attribute {
            Attribute(name: name, units: units, description: description, element: .float32,
                      read: { .floats([$0[keyPath: path]]) }, write: { $0[keyPath: path] = $1.floats.first ?? .nan })
        }

        static func double(_ name: String, _ units: Units, _ description: String,
                           _ path: WritableKeyPath<RunSummary, Double> & Sendable) -> Attribute {
            Attribute(name: name, units: units, description: description, element: .float64,
                      read: { .doubles([$0[keyPath: path]]) }, write: { $0[keyPath: path] = $1.doubles.first ?? .nan })
        }
    }

    static let attributes: [Attribute] = [
        .int("rounds", .one, "rounds run", \.rounds),
        .int("clients", .one, "number of clients", \.clients),
        .int("parameter_count", .one, "model parameters", \.parameterCount),
        .int("total_bytes_down", .bytes, "bytes the clients had to download", \.totalBytesDown),
        .int("total_bytes_up", .bytes, "bytes the clients uploaded", \.totalBytesUp),
        .int("total_bytes_broadcast", .bytes, "bytes rank 0 broadcast", \.totalBytesBroadcast),
        .int("tokens_trained", .tokens, "training tokens the loss counted (for instruction data response and end-of-sequence tokens only, no prompt or padding)", \.tokensTrained),
        .float("initial_eval_loss", "held-out loss before training", \.initialEvalLoss),
        .float("final_eval_loss", "held-out loss after training", \.finalEvalLoss),
        .double("wall_seconds", .seconds, "wall time of the run since its last start or resume, including start-up, evaluation and checkpoints", \.wallSeconds),
        .double("server_cpu_seconds", .seconds, "CPU time of the server rank (since the last start or resume)", \.serverCPUSeconds),
        .int("rejected_uploads", .one, "uploads rejected over the whole run", \.rejectedUploads),
        .double("bytes_per_client_mean", .bytes, "bytes down + up per client over the whole run (client_bytes_down + client_bytes_up), mean over the clients that took part", \.bytesPerClientMean),
        .int("bytes_per_client_max", .bytes, "bytes down + up per client over the whole run, the largest over the clients", \.bytesPerClientMax),
        .int("peak_client_rss", .bytes, "largest peak RSS of a rank hosting clients over the run (rank 0 in one-rank rounds)", \.peakClientRSS),
        .int("peak_server_rss", .bytes, "largest peak RSS of rank 0 over the run", \.peakServerRSS),
        .float("final_exact_match", "instruction data: eval_exact_match of the last evaluation; NaN for plain text", \.finalExactMatch, units: .one),
        .float("final_f1", "instruction data: eval_f1 of the last evaluation; NaN for plain text", \.finalF1, units: .one),
        .float("test_loss", "instruction data: the final model's response cross-entropy over every row of the test split, evaluated once when the run finished (never used to choose anything; /test has it per task); NaN for plain text or an empty test split", \.testLoss),
        .float("test_exact_match", "instruction data: mean SQuAD exact match of the final model's greedy answers to up to train.test_prompts test prompts (/test/answers); NaN as for test_loss", \.testExactMatch, units: .one),
        .float("test_f1", "instruction data: mean SQuAD token F1 of the same answers; NaN as for test_loss", \.testF1, units: .one),
        .double("client_compute_fraction", .one, "fraction of wall_seconds the client ranks spent computing: rank_compute_seconds of the client ranks (ranks 1..P-1; rank 0 when P = 1) summed over the rounds since the last start or resume, divided by (client ranks × wall_seconds); -1: not measured", \.clientComputeFraction),
    ]

    /// A summary with nothing in it, for the reader to fill.
    static var empty: RunSummary {
        RunSummary(rounds: 0, clients: 0, parameterCount: 0, totalBytesDown: 0, totalBytesUp: 0, totalBytesBroadcast: 0,
                   tokensTrained: 0, initialEvalLoss: .nan, finalEvalLoss: .nan, wallSeconds: 0, serverCPUSeconds: 0)
    }
}

extension HDF5Object {
    /// Sets a one-value numeric attribute from `cells`, stored as `element`.
    func setAttribute(_ name: String, _ cells: Cells, as element: ElementType) throws {
        switch element {
        case .int32: try setAttribute(name, Int32(cells.ints[0]))
        case .int64: try setAttribute(name, cells.ints[0])
        case .float32: try setAttribute(name, cells.floats[0])
        case .float64: try setAttribute(name, cells.doubles[0])
        }
    }

    /// A one-value numeric attribute, read into the Swift type of `element`.
    func attributeCells(_ name: String, as element: ElementType) throws -> Cells {
        switch element {
        case .int32, .int64: return .ints([try attribute(name, as: Int.self)])
        case .float32: return .floats([try attribute(name, as: Float.self)])
        case .float64: return .doubles([try attribute(name, as: Double.self)])
        }
    }
}
