extension JobSchema {
    /// The key table of docs/JOBS.md: one row per key, from the declarations.
    public var markdownTable: String {
        var lines = ["| key | type | default | accepts | on resume | meaning |", "|---|---|---|---|---|---|"]
        for key in all {
            let range = key.rangeDescription ?? ""
            let resume = key.mayChangeOnResume ? "may change" : "fixed"
            lines.append("| `\(key.path)` | \(key.kind.shortName) | \(key.defaultDescription) | \(range) | \(resume) | \(key.doc) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension JobLiteral.Kind {
    /// The type column of the key table.
    var shortName: String {
        switch self {
        case .int: return "integer"
        case .number: return "number"
        case .bool: return "boolean"
        case .string: return "string"
        case .strings: return "list of strings"
        }
    }
}
