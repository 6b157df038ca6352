/// How a corpus is split across clients: `data.partition` with its `data.clients` and
/// `data.dirichlet_alpha` (docs/DATA.md).
public enum PartitionScheme: Hashable, Sendable {
    /// Plain text: one client per file, a natural non-IID split. `clients`, when set, must equal
    /// the number of usable files.
    case byFile(clients: Int?)
    /// Instruction data: one client per distinct value of the label field (e.g. one per task),
    /// in UTF-8 order. `clients`, when set, must equal the number of values.
    case byField(clients: Int?)
    /// N clients of equal size: the text cut into N contiguous shards, or the records shuffled
    /// and dealt out.
    case iid(clients: Int)
    /// N clients, each label's (file's or field value's) data shared out by Dirichlet(alpha) proportions.
    case dirichlet(clients: Int, alpha: Double)

    /// The job's spellings of `data.partition`, in the order of the cases.
    public static let names = ["by-file", "by-field", "iid", "dirichlet"]

    /// Parses the job's spelling of `data.partition`; `clients` is `data.clients` (which iid and
    /// dirichlet need) and `alpha` is `data.dirichlet_alpha`.
    public init(parsing name: String, clients: Int?, alpha: Double) throws {
        switch name {
        case "by-file": self = .byFile(clients: clients)
        case "by-field": self = .byField(clients: clients)
        case "iid", "dirichlet":
            guard let clients else {
                throw CorpusError.invalidSetting(name: "data.clients", value: "no value",
                                                 expected: "a count of at least 1 when data.partition = \"\(name)\"")
            }
            self = name == "iid" ? .iid(clients: clients) : .dirichlet(clients: clients, alpha: alpha)
        default:
            throw CorpusError.invalidSetting(name: "data.partition", value: "\"\(name)\"",
                                             expected: "one of " + Self.names.map { "\"\($0)\"" }.joined(separator: ", "))
        }
    }

    /// The job's spelling, as `init(parsing:clients:alpha:)` reads it.
    public var name: String {
        switch self {
        case .byFile: return "by-file"
        case .byField: return "by-field"
        case .iid: return "iid"
        case .dirichlet: return "dirichlet"
        }
    }
}
