extension JobFile {
    /// Every recorded key with its effective value (the file plus command-line overrides), as TOML.
    /// This is what a run stores, so a resume compares what was really run (`JobRecording`).
    public var effectiveValues: [(key: String, value: String)] {
        JobSchema.shared.all.compactMap { key in key.recorded(in: self).map { (key.path, $0.toml) } }
            .sorted { $0.key < $1.key }
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
        for section in JobSchema.shared.sections {
            guard let lines = sections[section] else { continue }
            text += "\n[\(section)]\n" + lines.joined(separator: "\n") + "\n"
        }
        return text
    }

    /// The keys a resumed run may change without `--force`.
    static var safeToChangeOnResume: Set<String> { Set(JobSchema.shared.all.filter(\.mayChangeOnResume).map(\.path)) }

    /// The keys whose effective values differ between two jobs, as "key: old → new".
    func differences(from other: JobFile) -> [(key: String, change: String)] {
        let mine = Dictionary(uniqueKeysWithValues: effectiveValues.map { ($0.key, $0.value) })
        let theirs = Dictionary(uniqueKeysWithValues: other.effectiveValues.map { ($0.key, $0.value) })
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : (key, "\(key): \(theirs[key] ?? "unset") → \(mine[key] ?? "unset")")
        }
    }
}
