import Corpus

extension JobFile {
    /// The corpus files the job uses, from `data.categories` or `data.exclude_categories`.
    public var categorySelection: CategorySelection {
        if let categories = self.categories { return .only(categories) }
        if let excludeCategories = self.excludeCategories { return .excluding(excludeCategories) }
        return .all
    }

    /// Checks what needs no corpus: the corpus itself checks the names (`CategorySelection.apply`).
    func validateCategories() throws {
        if self.categories != nil && self.excludeCategories != nil {
            throw JobFileError(path, "'data.categories' and 'data.exclude_categories' are both set; set one of them")
        }
        for (key, list) in [("data.categories", self.categories), ("data.exclude_categories", self.excludeCategories)] {
            guard let list else { continue }
            if key == "data.categories" && list.isEmpty {
                throw JobFileError(path, "'data.categories' is empty; name at least one corpus file, or remove the key to use them all")
            }
            if let repeated = list.first(where: { file in list.filter { $0 == file }.count > 1 }) {
                throw JobFileError(path, "'\(key)' names '\(repeated)' twice; list each file once")
            }
        }
    }
}
