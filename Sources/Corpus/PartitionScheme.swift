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

    /// The scheme without its parameters: what `data.partition` spells.
    public enum Kind: String, CaseIterable, Sendable {
        case byFile = "by-file", byField = "by-field", iid, dirichlet
    }

    /// The job's spellings of `data.partition`, in the order of the cases.
    public static let names = Kind.allCases.map(\.rawValue)

    /// The scheme of `kind`; `clients` is `data.clients` (which iid and dirichlet need) and
    /// `alpha` is `data.dirichlet_alpha`.
    public init(kind: Kind, clients: Int?, alpha: Double) throws {
        switch kind {
        case .byFile: self = .byFile(clients: clients)
        case .byField: self = .byField(clients: clients)
        case .iid, .dirichlet:
            guard let clients else {
                throw CorpusError.invalidSetting(name: "data.clients", value: "no value",
                                                 expected: "a count of at least 1 when data.partition = \"\(kind.rawValue)\"")
            }
            self = kind == .iid ? .iid(clients: clients) : .dirichlet(clients: clients, alpha: alpha)
        }
    }

    /// Parses the job's spelling of `data.partition`.
    public init(parsing name: String, clients: Int?, alpha: Double) throws {
        guard let kind = Kind(rawValue: name) else {
            throw CorpusError.invalidSetting(name: "data.partition", value: "\"\(name)\"",
                                             expected: "one of " + Self.names.map { "\"\($0)\"" }.joined(separator: ", "))
        }
        try self.init(kind: kind, clients: clients, alpha: alpha)
    }

    public var kind: Kind {
        switch self {
        case .byFile: return .byFile
        case .byField: return .byField
        case .iid: return .iid
        case .dirichlet: return .dirichlet
        }
    }

    /// The job's spelling, as `init(parsing:clients:alpha:)` reads it.
    public var name: String { kind.rawValue }
}
