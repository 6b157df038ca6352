import CKernels

/// The vector features of this CPU, and which compiled kernel path the engine runs on it.
public enum CPU {
    /// The CPU's brand string, for example "AMD EPYC 9R45" (empty when the CPU reports none).
    public static var model: String { String(cString: fk_cpu_model()) }

    /// The vector features this CPU and OS support, by their usual names ("avx2", "fma", "avx512f", …).
    public static var features: [String] {
        let bits = fk_cpu_features()
        let names: [(UInt32, String)] = [
            (UInt32(FK_CPU_AVX), "avx"), (UInt32(FK_CPU_AVX2), "avx2"), (UInt32(FK_CPU_FMA), "fma"),
            (UInt32(FK_CPU_AVX512F), "avx512f"), (UInt32(FK_CPU_AVX512BW), "avx512bw"),
            (UInt32(FK_CPU_AVX512DQ), "avx512dq"), (UInt32(FK_CPU_AVX512VL), "avx512vl"),
            (UInt32(FK_CPU_AVX512BF16), "avx512bf16"), (UInt32(FK_CPU_AVX512FP16), "avx512fp16"),
            (UInt32(FK_CPU_AMX), "amx"),
        ]
        return names.filter { bits & $0.0 != 0 }.map(\.1)
    }

    /// True when the CPU has AVX2 with FMA.
    public static var hasAVX2FMA: Bool { features.contains("avx2") && features.contains("fma") }
    /// True when the CPU has AVX-512 F, BW, DQ and VL (what OpenBLAS's SkylakeX kernels use).
    public static var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(features.contains) }
}

/// The instruction set the element-wise kernels run: each is compiled into the binary, and the best
/// one the CPU has is chosen at the first call (or the one named by `FEDCYBGD_KERNELS`).
public enum KernelPath: String, CaseIterable, Sendable {
    case baseline
    case avx2 = "avx2+fma"
    case avx512

    /// The path in use.
    public static var current: KernelPath { KernelPath(fk_current_path()) }

    /// The best path this CPU runs.
    public static var best: KernelPath { KernelPath(fk_best_path()) }

    /// The paths this CPU can run, from the baseline up.
    public static var supported: [KernelPath] { allCases.filter { $0.rawIndex <= best.rawIndex } }

    /// Switches the kernels to `path`; returns false (and changes nothing) when the CPU cannot run it.
    /// Meant for tests and comparisons: the engine picks the best path by itself.
    @discardableResult
    public static func select(_ path: KernelPath) -> Bool { fk_select_path(path.cValue) != 0 }

    private init(_ value: fk_path) {
        switch value {
        case FK_PATH_AVX512: self = .avx512
        case FK_PATH_AVX2: self = .avx2
        default: self = .baseline
        }
    }

    private var rawIndex: Int { KernelPath.allCases.firstIndex(of: self)! }

    private var cValue: fk_path {
        switch self {
        case .baseline: FK_PATH_BASELINE
        case .avx2: FK_PATH_AVX2
        case .avx512: FK_PATH_AVX512
        }
    }
}
