import ArgumentParser
import Foundation
import GPT
import Kernels

/// `fedcybgd verify-reference DIR`: checks the engine against a Hugging Face reference folder.
struct VerifyReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-reference",
        abstract: "Compare forward, backward and AdamW with a reference folder (config.json, model.safetensors, expected.safetensors).")

    @Argument(help: "A folder in the layout of shared/fixtures/gpt2-tiny.")
    var folder: String

    func run() throws {
        let report = try ReferenceCheck.verify(folder: folder, willCompute: { BLASStartup.noteOnce() })
        ProgressPrinter.say(report.description)
        if !report.passed { throw ExitCode.failure }
    }
}
