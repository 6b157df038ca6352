import CKernels

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
