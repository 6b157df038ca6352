/// Which documents (categories) of a folder corpus a run uses: `data.categories` (only these)
/// or `data.exclude_categories` (all but these).
///
/// Selection happens on whole documents before any partition, so every partition (by-file, IID,
/// Dirichlet) and the held-out tails see only the chosen categories; a pretraining job and a
/// fine-tuning job can thus split one corpus between them without copying files.
public enum CategorySelection: Hashable, Sendable {
    case all
    case only([String])
    case excluding([String])

    /// The job key this selection came from, for messages.
    var key: String {
        switch self {
        case .all: return "data.categories"
        case .only: return "data.categories"
        case .excluding: return "data.exclude_categories"
        }
    }

    /// The named documents, in corpus order. A name that is not a document of the corpus is an
    /// error listing the available names, because a typo silently training on the wrong text
    /// would spoil a comparison without any visible sign.
    public func apply(to documents: [TextDocument], source: String = "") throws -> [TextDocument] {
        try apply(names: documents.map(\.name), source: source).map { documents[$0] }
    }

    /// The indices of the selected names among `names` (in order); see `apply(to:source:)`.
    public func apply(names: [String], source: String = "") throws -> [Int] {
        let requested: [String]
        switch self {
        case .all: return Array(names.indices)
        case .only(let list), .excluding(let list): requested = list
        }
        let available = Set(names)
        let unknown = requested.filter { !available.contains($0) }
        if !unknown.isEmpty {
            throw CorpusError.unknownCategories(key: key, unknown: unknown, available: names, path: source)
        }
        let chosen = Set(requested)
        let keep: (String) -> Bool
        if case .only = self { keep = { chosen.contains($0) } } else { keep = { !chosen.contains($0) } }
        let indices = names.indices.filter { keep(names[$0]) }
        if indices.isEmpty {
            throw CorpusError.invalidSetting(name: key, value: "[\(requested.joined(separator: ", "))]",
                                             expected: "a selection that leaves at least one file of the corpus")
        }
        return indices
    }
}
