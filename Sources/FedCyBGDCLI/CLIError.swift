/// A problem the user can fix, told in one line that names it and the remedy.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
