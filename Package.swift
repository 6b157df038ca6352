// swift-tools-version: 6.0
import PackageDescription

/// Release builds drop bounds and overflow checks in the hot loops, as the project's speed rules ask.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "fedcybgd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fedcybgd", targets: ["fedcybgd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C libraries from Debian's packages, seen through thin module maps.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),

        // Leaves: counter-based randomness, and the numeric kernels. The element-wise kernels are C,
        // compiled once per instruction set and chosen at run time (docs/PERFORMANCE.md says why);
        // they are optimised in debug builds too, so that `swift test` trains at a useful speed.
        .target(name: "Determinism", swiftSettings: fast),
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2", "-fno-math-errno"])]),
        .target(name: "Kernels", dependencies: ["CBLAS", "CKernels"], swiftSettings: fast),

        // The model and the data.
        .target(name: "GPT", dependencies: ["Kernels", "Determinism"], swiftSettings: fast),
        .target(name: "Corpus", dependencies: ["Determinism"], swiftSettings: fast),

        // The algorithm. It sees MPI, HDF5 and the operating system only through its ports:
        // the Transport, RunStore and ProcessProbe protocols.
        .target(name: "Federation", dependencies: ["GPT", "Corpus", "Determinism"], swiftSettings: fast),

        // Thin adapters.
        .target(name: "MPITransport", dependencies: ["CMPI", "Federation"], swiftSettings: fast),
        .target(name: "HDF5Store", dependencies: ["CHDF5", "CKernels", "Federation", "GPT", "Corpus"], swiftSettings: fast),
        .target(name: "SystemMetrics", dependencies: ["Federation"], swiftSettings: fast),

        // The command line: job files, flags, wiring and progress.
        .target(
            name: "FedCyBGDCLI",
            dependencies: [
                "Federation", "GPT", "Corpus", "MPITransport", "HDF5Store", "SystemMetrics", "Kernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: fast
        ),
        .executableTarget(name: "fedcybgd", dependencies: ["FedCyBGDCLI"], swiftSettings: fast),

        .testTarget(name: "GPTTests", dependencies: ["GPT", "Kernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus"]),
        .testTarget(name: "FederationTests", dependencies: ["Federation", "SystemMetrics", "GPT", "Corpus", "Kernels"]),
        .testTarget(name: "HDF5StoreTests", dependencies: ["HDF5Store", "Federation", "GPT", "Corpus"]),
        .testTarget(name: "MPITransportTests", dependencies: ["MPITransport", "Federation"]),
        .testTarget(name: "CLITests", dependencies: ["FedCyBGDCLI", "HDF5Store", "GPT"]),
    ]
)
