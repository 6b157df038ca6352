import Foundation

extension JobFile {
    /// Every key with its effective value (the file plus command-line overrides), as TOML.
    /// This is what a run stores, so a resume compares what was really run.
    public var effectiveValues: [(key: String, value: String)] {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var values: [(String, String)] = [
            ("name", quoted(name)), ("output", quoted(output)), ("seed", "\(seed)"),
            ("model.layers", "\(layers)"), ("model.width", "\(width)"), ("model.heads", "\(heads)"),
            ("model.context", "\(context ?? sequence)"),
            ("data.corpus", quoted(corpus)), ("data.partition", quoted(partition)),
            ("data.validation_fraction", "\(validationFraction)"),
            ("train.rounds", "\(totalRounds)"), ("train.clients_per_round", "\(clientsPerRound)"),
            ("train.local_steps", "\(localSteps)"), ("train.batch", "\(batch)"), ("train.sequence", "\(sequence)"),
            ("train.learning_rate", "\(learningRate)"), ("train.weight_decay", "\(weightDecay)"),
            ("train.beta1", "\(beta1)"), ("train.beta2", "\(beta2)"), ("train.eval_batches", "\(evalBatches)"),
            ("train.checkpoint_every", "\(checkpointEvery)"), ("train.threads", "\(threads)"),
            ("train.keep_checkpoints", "\(keepCheckpoints)"), ("train.snapshots", "\(snapshots)"),
            ("train.blocks", quoted(blocks)), ("train.block_order", quoted(blockOrder)),
            ("train.client_selection", quoted(clientSelection)), ("train.lr_schedule", quoted(lrSchedule)),
            ("train.warmup_rounds", "\(warmupRounds)"), ("train.lr_floor", "\(lrFloor)"),
            ("server.update_norm_warmup", "\(updateNormWarmup)"),
            ("server.update_norm_window", "\(updateNormWindow)"),
        ]
        if let clients { values.append(("data.clients", "\(clients)")) }
        // Only when set, so jobs stored before the key existed compare equal.
        if embeddingShards != 1 { values.append(("train.embedding_shards", "\(embeddingShards)")) }
        if partition == "dirichlet" { values.append(("data.dirichlet_alpha", "\(dirichletAlpha)")) }
        if let localEpochs {
            values.removeAll { $0.0 == "train.local_steps" }
            values.append(("train.local_epochs", "\(localEpochs)"))
        }
        if let updateNormMax { values.append(("server.update_norm_max", "\(updateNormMax)")) }
        if let updateNormMultiple { values.append(("server.update_norm_multiple", "\(updateNormMultiple)")) }
        if let roundTimeout { values.append(("server.round_timeout", "\(roundTimeout)")) }
        // Model-source keys only when set, so jobs stored before they existed compare equal.
        if let initModel { values.append(("model.init", quoted(initModel))) }
        if tokenizer != "byte" { values.append(("data.tokenizer", quoted(tokenizer))) }
        if let tokenizerJSON { values.append(("data.tokenizer_json", quoted(tokenizerJSON))) }
        if let vocab { values.append(("data.vocab", quoted(vocab))) }
        if let merges { values.append(("data.merges", quoted(merges))) }
        values += methods.effectiveValues
        values += architecture.effectiveValues
        values += categoryValues
        values += instruction.effectiveValues
        return values.sorted { $0.0 < $1.0 }
    }

    /// The effective job as a TOML document that `JobFile.parse` reads back to the same values.
    public var effectiveTOML: String {
        var sections: [String: [String]] = [:]
        for (key, value) in effectiveValues {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            let (section, name) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
            sections[section, default: []].append("\(name) = \(value)")
        }
        var text = "# fedcybgd job as run (the job file with command-line overrides applied)\n"
        text += (sections[""] ?? []).joined(separator: "\n") + "\n"
        let optional: Set<String> = ["download", "upload", "lora"]
        for section in ["model", "data", "train", "server", "download", "upload", "lora"]
        where sections[section] != nil || !optional.contains(section) {
            text += "\n[\(section)]\n" + (sections[section] ?? []).joined(separator: "\n") + "\n"
        }
        return text
    }

    /// Keys a resumed run may change without `--force`: they alter how long and where the run
    /// goes, not what it computes.
    static let safeToChangeOnResume: Set<String> = ["train.rounds", "output", "train.checkpoint_every", "train.threads",
                                                    "train.keep_checkpoints", "server.round_timeout"]

    /// The keys whose effective values differ between two jobs, as "key: old → new".
    func differences(from other: JobFile) -> [(key: String, change: String)] {
        let mine = Dictionary(uniqueKeysWithValues: effectiveValues.map { ($0.key, $0.value) })
        let theirs = Dictionary(uniqueKeysWithValues: other.effectiveValues.map { ($0.key, $0.value) })
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : (key, "\(key): \(theirs[key] ?? "unset") → \(mine[key] ?? "unset")")
        }
    }
}
