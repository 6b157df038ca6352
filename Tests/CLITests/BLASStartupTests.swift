import FedCyBGDCLI
import Kernels
import XCTest

/// OpenBLAS's kernel set against the CPU (docs/PERFORMANCE.md, "OpenBLAS and the CPU"): the pure
/// decision, then the real binary (re-exec, the note, under mpirun).
final class BLASStartupTests: XCTestCase {
    private let avx512BF16 = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512bf16"]
    private let avx512 = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
    private let avx2 = ["avx", "avx2", "fma"]

    // MARK: the decision

    func testGenericAutoChoiceOnAVX512RestartsWithTheCPUsKernels() {
        // The Xeon model 207 case: OpenBLAS did not know the model and took Prescott.
        XCTAssertEqual(BLASStartup.decide(coreName: "Prescott", features: avx512BF16, environment: [:]), .reexec(core: "Cooperlake"))
        XCTAssertEqual(BLASStartup.decide(coreName: "Prescott", features: avx512, environment: [:]), .reexec(core: "SkylakeX"))
        for old in ["Katmai", "Coppermine", "Northwood", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Barcelona",
                    "Opteron", "Bulldozer", "Piledriver", "Sandybridge", "Unknown"] {
            XCTAssertEqual(BLASStartup.decide(coreName: old, features: avx2, environment: [:]), .reexec(core: "Haswell"), old)
        }
        // Kernels of the AVX2 generation on an AVX-512 CPU are weaker too.
        XCTAssertEqual(BLASStartup.decide(coreName: "Haswell", features: avx512, environment: ["PATH": "/bin"]), .reexec(core: "SkylakeX"))
    }

    func testNothingHappensWhenOpenBLASChoseWellOrTheCPUIsOld() {
        XCTAssertEqual(BLASStartup.decide(coreName: "Cooperlake", features: avx512BF16, environment: [:]), .none)
        XCTAssertEqual(BLASStartup.decide(coreName: "SkylakeX", features: avx512, environment: [:]), .none)
        XCTAssertEqual(BLASStartup.decide(coreName: "Zen", features: avx2, environment: [:]), .none)
        XCTAssertEqual(BLASStartup.decide(coreName: "Haswell", features: avx2, environment: [:]), .none)
        // A CPU without AVX2+FMA: OpenBLAS's choice stands.
        XCTAssertEqual(BLASStartup.decide(coreName: "Prescott", features: ["avx"], environment: [:]), .none)
        XCTAssertEqual(BLASStartup.decide(coreName: "Sandybridge", features: ["avx"], environment: [:]), .none)
        XCTAssertEqual(BLASStartup.decide(coreName: "Nehalem", features: [], environment: [:]), .none)
        // A core name this table does not know (newer OpenBLAS, other architectures).
        XCTAssertEqual(BLASStartup.decide(coreName: "NEOVERSEN1", features: avx512, environment: [:]), .none)
    }

    func testAUserSettingIsRespectedWithOneNoteNamingItAndTheRemedy() {
        let env = ["OPENBLAS_CORETYPE": "Haswell"]
        guard case .note(let line) = BLASStartup.decide(coreName: "Haswell", features: avx512BF16, environment: env) else {
            return XCTFail("a weaker user setting must give a note, not a re-exec")
        }
        XCTAssertTrue(line.hasPrefix("note: OpenBLAS runs its Haswell kernels because OPENBLAS_CORETYPE=Haswell is set"), line)
        XCTAssertTrue(line.contains("AVX-512") && line.contains("unset OPENBLAS_CORETYPE") && line.contains("Cooperlake"), line)
        XCTAssertFalse(line.contains("\n"))
        guard case .note(let prescott) = BLASStartup.decide(coreName: "Prescott", features: avx2, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        else { return XCTFail("Prescott on an AVX2 CPU must give a note") }
        XCTAssertTrue(prescott.contains("Prescott") && prescott.contains("AVX2+FMA") && prescott.contains("Haswell"), prescott)
        // A setting as good as the CPU, or better than it: no note.
        XCTAssertEqual(BLASStartup.decide(coreName: "SkylakeX", features: avx512BF16, environment: ["OPENBLAS_CORETYPE": "SkylakeX"]), .none)
        XCTAssertEqual(BLASStartup.decide(coreName: "Haswell", features: avx2, environment: ["OPENBLAS_CORETYPE": "Haswell"]), .none)
        // The decision looks at the kernels OpenBLAS loaded: a name it ignored falls back to its own choice.
        XCTAssertEqual(BLASStartup.decide(coreName: "Cooperlake", features: avx512BF16, environment: ["OPENBLAS_CORETYPE": "Bogus"]), .none)
    }

    func testTheMarkerPreventsASecondRestart() {
        // After the re-exec: OPENBLAS_CORETYPE is fedcybgd's; if OpenBLAS still runs weak kernels, say so, never exec again.
        let after = ["OPENBLAS_CORETYPE": "SkylakeX", BLASStartup.markerVariable: "SkylakeX"]
        XCTAssertEqual(BLASStartup.decide(coreName: "SkylakeX", features: avx512, environment: after), .none)
        guard case .note(let line) = BLASStartup.decide(coreName: "Prescott", features: avx512, environment: after) else {
            return XCTFail("no second re-exec")
        }
        XCTAssertTrue(line.contains("fedcybgd set OPENBLAS_CORETYPE=SkylakeX"), line)
        guard case .note = BLASStartup.decide(coreName: "Prescott", features: avx512, environment: [BLASStartup.markerVariable: "SkylakeX"]) else {
            return XCTFail("marker without the variable: no re-exec")
        }
    }

    func testWhereTheSettingCameFromAndTheRank() {
        XCTAssertEqual(BLASStartup.source(environment: [:]), .auto)
        XCTAssertEqual(BLASStartup.source(environment: ["OPENBLAS_CORETYPE": "Haswell"]), .user)
        XCTAssertEqual(BLASStartup.source(environment: ["OPENBLAS_CORETYPE": "Haswell", BLASStartup.markerVariable: "SkylakeX"]), .user)
        XCTAssertEqual(BLASStartup.source(environment: ["OPENBLAS_CORETYPE": "SkylakeX", BLASStartup.markerVariable: "SkylakeX"]), .fedcybgd)
        XCTAssertEqual(BLASStartup.launcherRank(environment: [:]), 0)
        XCTAssertEqual(BLASStartup.launcherRank(environment: ["OMPI_COMM_WORLD_RANK": "2", "SLURM_PROCID": "0"]), 2)
        XCTAssertEqual(BLASStartup.launcherRank(environment: ["PMIX_RANK": "1"]), 1)
        XCTAssertEqual(BLASStartup.launcherRank(environment: ["SLURM_PROCID": "3"]), 3)
        XCTAssertEqual(BLASStartup.Tier(features: avx512BF16), .avx512)
        XCTAssertEqual(BLASStartup.Tier(features: ["avx", "avx2"]), .avx)  // AVX2 without FMA
        XCTAssertEqual(BLASStartup.preferredCore(features: ["avx"]), nil)
    }

    // MARK: the real binary

    private let tinyBench = ["bench", "--layers", "1", "--width", "32", "--heads", "2", "--vocab", "64", "--sequence", "16",
                             "--batch", "2", "--threads", "1", "--warmup", "0", "--steps", "1"]
    private let notePrefix = "note: OpenBLAS runs its"

    private func blasLines(_ output: String) -> [Substring] { output.split(separator: "\n").filter { $0.hasPrefix("blas:") } }

    private var cpuHasAVX2FMA: Bool { CPU.hasAVX2FMA }

    func testUnsetCoretypeGivesNonGenericKernelsAndNoNote() throws {
        try XCTSkipUnless(cpuHasAVX2FMA, "needs a CPU with AVX2+FMA")
        let result = try ProgramRunner.run(tinyBench, removing: ["OPENBLAS_CORETYPE"])
        XCTAssertEqual(result.status, 0, result.error)
        let lines = blasLines(result.output)
        XCTAssertEqual(lines.count, 1, result.output)
        let core = lines.first.flatMap { $0.components(separatedBy: "; core ").last?.split(separator: " ").first }.map(String.init) ?? ""
        XCTAssertGreaterThanOrEqual(BLASStartup.Tier(coreName: core) ?? .generic, .avx2, result.output)
        XCTAssertFalse(result.error.contains(notePrefix), result.error)
    }

    func testGenericKernelsChosenAutomaticallyAreReplacedByReexec() throws {
        try XCTSkipUnless(cpuHasAVX2FMA, "needs a CPU with AVX2+FMA")
        let expected = BLASStartup.preferredCore(features: CPU.features)!
        let result = try ProgramRunner.run(tinyBench, environment: ["OPENBLAS_CORETYPE": "Prescott", BLASStartup.testAsAutoVariable: "1"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(blasLines(result.output).count, 1, result.output)
        let line = String(blasLines(result.output).first ?? "")
        XCTAssertTrue(line.contains("; core \(expected) (OPENBLAS_CORETYPE=\(expected), set by fedcybgd)"), result.output)
        XCTAssertFalse(result.error.contains(notePrefix), result.error)
    }

    func testReexecUnderMPIrunOnEveryRank() throws {
        try XCTSkipUnless(cpuHasAVX2FMA, "needs a CPU with AVX2+FMA")
        let expected = BLASStartup.preferredCore(features: CPU.features)!
        let result = try ProgramRunner.run(tinyBench, ranks: 3,
                                           environment: ["OPENBLAS_CORETYPE": "Prescott", BLASStartup.testAsAutoVariable: "1"])
        XCTAssertEqual(result.status, 0, result.error)
        let lines = blasLines(result.output)
        XCTAssertEqual(lines.count, 3, result.output)
        for line in lines { XCTAssertTrue(line.contains("; core \(expected) (OPENBLAS_CORETYPE=\(expected), set by fedcybgd)"), String(line)) }
        // And with the variable really unset, every rank runs kernels of the CPU's generation.
        let unset = try ProgramRunner.run(tinyBench, ranks: 3, removing: ["OPENBLAS_CORETYPE"])
        XCTAssertEqual(unset.status, 0, unset.error)
        let cores = blasLines(unset.output).compactMap { $0.components(separatedBy: "; core ").last?.split(separator: " ").first }
        XCTAssertEqual(cores.count, 3, unset.output)
        for core in cores { XCTAssertGreaterThanOrEqual(BLASStartup.Tier(coreName: String(core)) ?? .generic, .avx2, unset.output) }
    }

    func testAWeakUserSettingIsKeptWithOneNoteOnRankZero() throws {
        try XCTSkipUnless(cpuHasAVX2FMA, "needs a CPU with AVX2+FMA")
        let single = try ProgramRunner.run(tinyBench, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(single.status, 0, single.error)
        XCTAssertTrue(single.output.contains("; core Prescott (OPENBLAS_CORETYPE=Prescott, set by user)"), single.output)
        let notes = single.error.split(separator: "\n").filter { $0.hasPrefix(notePrefix) }
        XCTAssertEqual(notes.count, 1, single.error)
        XCTAssertTrue(notes.first?.contains("OPENBLAS_CORETYPE=Prescott is set") == true, single.error)
        XCTAssertTrue(notes.first?.contains("unset OPENBLAS_CORETYPE") == true, single.error)
        let ranks = try ProgramRunner.run(tinyBench, ranks: 3, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(ranks.status, 0, ranks.error)
        XCTAssertEqual(ranks.error.split(separator: "\n").filter { $0.hasPrefix(notePrefix) }.count, 1, ranks.error)
        XCTAssertEqual(ranks.output.components(separatedBy: "set by user)").count - 1, 3, ranks.output)
        // Commands that do not compute stay quiet.
        let inspect = try ProgramRunner.run(["inspect", "/nonexistent/run"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertFalse(inspect.error.contains(notePrefix), inspect.error)
    }

    func testTheMarkerStopsALoop() throws {
        try XCTSkipUnless(cpuHasAVX2FMA, "needs a CPU with AVX2+FMA")
        // As if the re-exec had happened and OpenBLAS still ran Prescott: one note, no second exec.
        let result = try ProgramRunner.run(tinyBench, environment: ["OPENBLAS_CORETYPE": "Prescott",
                                                                    BLASStartup.markerVariable: "Prescott",
                                                                    BLASStartup.testAsAutoVariable: "1"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains("; core Prescott (OPENBLAS_CORETYPE=Prescott, set by fedcybgd)"), result.output)
        XCTAssertEqual(result.error.split(separator: "\n").filter { $0.hasPrefix(notePrefix) }.count, 1, result.error)
    }
}
