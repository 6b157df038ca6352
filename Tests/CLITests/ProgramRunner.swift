import Foundation
import XCTest

/// Runs the real `fedcybgd` binary, alone or under `mpirun`, and captures what it prints.
enum ProgramRunner {
    struct Result {
        let status: Int32
        let output: String
        let error: String
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The binary under test: $FEDCYBGD_BIN (set by scripts/test.sh), else the release build.
    static func binary() throws -> String {
        let path = ProcessInfo.processInfo.environment["FEDCYBGD_BIN"]
            ?? packageRoot.appendingPathComponent(".build/release/fedcybgd").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("no fedcybgd binary at \(path); run the tests through 'make test', which builds it")
        }
        return path
    }

    /// Runs the binary with `arguments`; with `ranks`, under scripts/mpirun.sh -n ranks.
    /// `removing` names variables to take out of the environment (e.g. OPENBLAS_CORETYPE).
    static func run(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:],
                    removing: [String] = []) throws -> Result {
        let process = Process()
        if let ranks {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [packageRoot.appendingPathComponent("scripts/mpirun.sh").path, "-n", "\(ranks)", try binary()] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: try binary())
            process.arguments = arguments
        }
        // A test in this process may have started MPI as a singleton, which puts its own
        // OMPI_/PMIX_ variables in the environment; a child mpirun must not inherit them.
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "OPAL_", "PRTE_"].contains { key.hasPrefix($0) }
        }
        env.merge(environment) { $1 }
        for name in removing { env[name] = nil }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the process runs, so a chatty child never blocks on a full pipe.
        let errorData = ThreadedReader(err.fileHandleForReading)
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                      error: String(decoding: errorData.wait(), as: UTF8.self))
    }

    /// A scratch folder for one test, removed by the caller.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fedcybgd-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A small job on the fortunes corpus; `extra` lines are added to [train].
    static func tinyJob(in folder: URL, corpus: String = "/usr/share/games/fortunes", data: String = "",
                        train: String = "", top: String = "") throws -> String {
        let text = """
        name = "tiny"
        output = "\(folder.path)/runs"
        seed = 42
        \(top)
        [model]
        layers = 2
        width = 32
        heads = 2

        [data]
        corpus = "\(corpus)"
        \(data)

        [train]
        rounds = 8
        clients_per_round = 2
        local_steps = 2
        batch = 4
        sequence = 32
        learning_rate = 3e-3
        eval_batches = 2
        threads = 1
        \(train)
        """
        let path = folder.appendingPathComponent("tiny.toml")
        try text.write(to: path, atomically: true, encoding: .utf8)
        return path.path
    }
}

/// Drains a pipe on a background thread.
final class ThreadedReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }.start()
    }

    func wait() -> Data { done.wait(); return data }
}
