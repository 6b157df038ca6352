import Corpus

extension JobFile {
    /// The corpus files the job uses, from `data.categories` or `data.exclude_categories`.
    public var categorySelection: CategorySelection {
        if let categories { return .only(categories) }
        if let excludeCategories { return .excluding(excludeCategories) }
        return .all
    }

    /// Checks what needs no corpus: the corpus itself checks the names (`CategorySelection.apply`).
    func validateCategories() throws {
        if categories != nil && excludeCategories != nil {
            throw JobFileError(path, "'data.categories' and 'data.exclude_categories' are both set; set one of them")
        }
        for (key, list) in [("data.categories", categories), ("data.exclude_categories", excludeCategories)] {
            guard let list else { continue }
            if key == "data.categories" && list.isEmpty {
                throw JobFileError(path, "'data.categories' is empty; name at least one corpus file, or remove the key to use them all")
            }
            if let repeated = list.first(where: { name in list.filter { $0 == name }.count > 1 }) {
                throw JobFileError(path, "'\(key)' names '\(repeated)' twice; list each file once")
            }
        }
    }

    /// The selection as effective-job entries; absent when the job uses every file, so jobs
    /// stored before these keys existed compare equal.
    var categoryValues: [(String, String)] {
        func list(_ names: [String]) -> String {
            "[" + names.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
                .joined(separator: ", ") + "]"
        }
        var values: [(String, String)] = []
        if let categories { values.append(("data.categories", list(categories))) }
        if let excludeCategories { values.append(("data.exclude_categories", list(excludeCategories))) }
        return values
    }
}
