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
