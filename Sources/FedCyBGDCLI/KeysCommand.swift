import ArgumentParser

/// `fedcybgd keys`: every job key with its type, default, accepted values and meaning.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List every job-file key: type, default, accepted values, whether it may change on resume, meaning.",
        discussion: "The list is docs/JOBS.md's key table, printed from the same declarations the job reader uses.")

    func run() throws {
        print(JobSchema.shared.markdownTable, terminator: "")
    }
}
