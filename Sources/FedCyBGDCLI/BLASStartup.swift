import Foundation
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's kernel set against the CPU, settled at the very start of the process (before
/// `MPI_Init`). Debian's DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU's model number, when
/// the library loads; on a model it does not know it silently takes its generic `Prescott` kernels
/// (5x slower sgemm on a Xeon with AVX-512). `OPENBLAS_CORETYPE` overrides that choice, but only
/// if it is in the environment when the process starts. So:
///
/// - `OPENBLAS_CORETYPE` unset and OpenBLAS chose kernels older than the CPU runs: fedcybgd sets
///   it to the CPU's kernel set and re-executes itself (same PID, same argv), once;
/// - `OPENBLAS_CORETYPE` set by the user to a weaker kernel set: respected, with one note on
///   stderr from rank 0 of the commands that compute.
///
/// See docs/PERFORMANCE.md, "OpenBLAS and the CPU".
public enum BLASStartup {
    /// The variable OpenBLAS reads.
    public static let coretypeVariable = "OPENBLAS_CORETYPE"
    /// Set (to the chosen kernel set) together with OPENBLAS_CORETYPE before the re-exec: the
    /// re-executed process then never re-executes again, and knows the setting was fedcybgd's.
    public static let markerVariable = "FEDCYBGD_OPENBLAS_CORETYPE"
    /// Tests only: `1` makes `start()` treat a set OPENBLAS_CORETYPE as OpenBLAS's automatic choice.
    public static let testAsAutoVariable = "FEDCYBGD_TEST_CORETYPE_AS_AUTO"

    /// What a kernel set, or a CPU, can do, in OpenBLAS's terms.
    public enum Tier: Int, Comparable, Sendable, CustomStringConvertible {
        /// SSE only: Prescott, Nehalem, Core2, Atom, Opteron, Barcelona, … (and "Unknown").
        case generic
        /// AVX without AVX2 + FMA: Sandybridge and the Bulldozer family.
        case avx
        /// AVX2 + FMA: Haswell, Zen.
        case avx2
        /// AVX-512 F/BW/DQ/VL: SkylakeX, Cooperlake, SapphireRapids.
        case avx512

        public static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }

        public var description: String {
            switch self {
            case .generic: "no AVX"
            case .avx: "AVX but not AVX2+FMA"
            case .avx2: "AVX2+FMA"
            case .avx512: "AVX-512"
            }
        }

        /// The tier of an OpenBLAS core name (`openblas_get_corename()`), or nil for a name this
        /// table does not know (a newer OpenBLAS, another architecture): then nothing is done.
        public init?(coreName: String) {
            switch coreName.lowercased() {
            case "skylakex", "cooperlake", "sapphirerapids": self = .avx512
            case "haswell", "zen": self = .avx2
            case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": self = .avx
            case "unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
                 "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "bobcat":
                self = .generic
            default: return nil
            }
        }

        /// The best tier a CPU with these features (`CPU.features` names) runs.
        public init(features: [String]) {
            let has = Set(features)
            if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(has.contains) { self = .avx512 }
            else if has.contains("avx2") && has.contains("fma") { self = .avx2 }
            else if has.contains("avx") { self = .avx }
            else { self = .generic }
        }
    }

    /// The kernel set fedcybgd asks for on a CPU with these features, or nil when it has no AVX2+FMA
    /// (then OpenBLAS's own choice stands). With AVX-512 BF16, OpenBLAS's own choice for such CPUs
    /// (Cooperlake: the SkylakeX sgemm kernels plus bf16 ones) is taken; measured equal to SkylakeX
    /// for sgemm on an AMD EPYC Zen 5 and faster on 2 threads on a Xeon model 207 (../shared/PLATFORM.md).
    public static func preferredCore(features: [String]) -> String? {
        switch Tier(features: features) {
        case .avx512: features.contains("avx512bf16") ? "Cooperlake" : "SkylakeX"
        case .avx2: "Haswell"
        case .avx, .generic: nil
        }
    }

    /// Where OPENBLAS_CORETYPE came from.
    public enum Source: String, Sendable {
        case auto = "auto (OPENBLAS_CORETYPE unset)"
        case user = "set by user"
        case fedcybgd = "set by fedcybgd"
    }

    public static func source(environment: [String: String]) -> Source {
        guard let value = environment[coretypeVariable], !value.isEmpty else { return .auto }
        return environment[markerVariable] == value ? .fedcybgd : .user
    }

    /// What to do at start-up.
    public enum Action: Equatable, Sendable {
        /// Nothing: OpenBLAS runs the best kernels this CPU has (or ones this table does not know).
        case none
        /// Set OPENBLAS_CORETYPE (and the marker) to this kernel set and re-execute the binary.
        case reexec(core: String)
        /// Respect the setting, but say once (rank 0, commands that compute) what it costs.
        case note(String)
    }

    /// The decision, from OpenBLAS's loaded core name, the CPU's features (`CPU.features`) and the
    /// environment. Pure, so that every case is unit-tested.
    public static func decide(coreName: String, features: [String], environment: [String: String]) -> Action {
        guard let loaded = Tier(coreName: coreName), let preferred = preferredCore(features: features) else { return .none }
        let cpu = Tier(features: features)
        guard loaded < cpu else { return .none }
        let setting = environment[coretypeVariable] ?? ""
        switch source(environment: environment) {
        case .auto:
            // The marker means this process is the re-executed one: never again (no loop), and say why.
            if environment[markerVariable] != nil {
                return .note("note: OpenBLAS runs its \(coreName) kernels although this CPU has \(cpu); "
                    + "fedcybgd's re-start with \(coretypeVariable) did not take (\(markerVariable) is set)")
            }
            return .reexec(core: preferred)
        case .fedcybgd:
            return .note("note: OpenBLAS runs its \(coreName) kernels although fedcybgd set \(coretypeVariable)=\(setting); "
                + "this CPU has \(cpu) (is OpenBLAS built without DYNAMIC_ARCH?)")
        case .user:
            return .note("note: OpenBLAS runs its \(coreName) kernels because \(coretypeVariable)=\(setting) is set; "
                + "this CPU has \(cpu) (unset \(coretypeVariable) to let fedcybgd choose \(preferred) kernels, "
                + "\(gain(from: loaded, to: cpu)))")
        }
    }

    /// The sgemm speed-up measured for such a change (docs/PERFORMANCE.md, ../shared/PLATFORM.md).
    static func gain(from loaded: Tier, to cpu: Tier) -> String {
        switch (loaded, cpu) {
        case (.avx2, .avx512): "about 2x faster sgemm"
        case (.generic, .avx512), (.avx, .avx512): "about 5x faster sgemm"
        case (.generic, .avx2), (.avx, .avx2): "about 2x faster sgemm"
        default: "faster sgemm"
        }
    }

    /// This process's MPI rank as the launcher tells it (mpirun: OMPI_COMM_WORLD_RANK; srun with
    /// PMIx: PMIX_RANK; Slurm: SLURM_PROCID, which a batch script's mpirun ranks all inherit as 0,
    /// hence last), or 0 when none is set. Known before `MPI_Init`.
    public static func launcherRank(environment: [String: String]) -> Int {
        for name in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"] {
            if let value = environment[name], let rank = Int(value) { return rank }
        }
        return 0
    }

    /// Called first thing in `main`: re-executes the binary with OPENBLAS_CORETYPE set when the
    /// decision says so, and remembers a note for `noteOnce()`. Returns only when no re-exec happens.
    public static func start() {
        var environment = ProcessInfo.processInfo.environment
        // For the end-to-end tests only: on a CPU that OpenBLAS knows, the re-exec path cannot be
        // reached, so a test loads weak kernels with OPENBLAS_CORETYPE and asks for them to be
        // treated as OpenBLAS's own choice.
        if environment[testAsAutoVariable] == "1", environment[markerVariable] == nil {
            environment[coretypeVariable] = nil
        }
        let action = decide(coreName: BLAS.coreName, features: CPU.features, environment: environment)
        switch action {
        case .none: break
        case .note(let line): pending.set(line)
        case .reexec(let core):
            setenv(coretypeVariable, core, 1)
            setenv(markerVariable, core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Only reached when exec failed: run on with the kernels loaded, and say so.
            let reason = String(cString: strerror(errno))
            unsetenv(coretypeVariable)
            pending.set("note: OpenBLAS runs its \(BLAS.coreName) kernels although this CPU has "
                + "\(Tier(features: CPU.features)); re-starting with \(coretypeVariable)=\(core) failed (\(reason))")
        }
    }

    /// Prints the start-up note, if there is one, on stderr: once per process, and only on rank 0.
    /// The commands that compute call it once their input has been checked, so that bad input
    /// still gets exactly one line (the error).
    /// `rank` is the MPI rank when MPI runs, else the launcher's (`launcherRank`) is used.
    public static func noteOnce(rank: Int? = nil) {
        guard let line = pending.take(), (rank ?? launcherRank(environment: ProcessInfo.processInfo.environment)) == 0 else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    private static let pending = PendingNote()
}

/// The note waiting to be printed (set before any thread starts, taken at most once).
private final class PendingNote: @unchecked Sendable {
    private let lock = NSLock()
    private var line: String?

    func set(_ value: String) { lock.withLock { line = value } }
    func take() -> String? { lock.withLock { defer { line = nil }; return line } }
}
