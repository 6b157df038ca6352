import CMPI
import Federation
import Foundation

/// The MPI library of this process: started once, finished at exit.
///
/// `initialize()` calls `MPI_Init_thread` (asking for `MPI_THREAD_SERIALIZED`: any thread may
/// call MPI, one at a time) the first time it runs, and registers `MPI_Finalize` with `atexit`
/// so that every rank that returns from `main` or calls `exit` finishes MPI cleanly, which
/// `mpirun` requires to report success. Without `mpirun` the process is an MPI singleton
/// (rank 0 of 1), which is how the tests run.
///
/// Errors on `MPI_COMM_WORLD` are set to return codes (`MPI_ERRORS_RETURN`), which the
/// transport turns into `TransportError.failed`.
public enum MPIRuntime {
    /// The outcome of the one start-up, run exactly once (a `static let` is initialised once,
    /// thread-safely) and remembered.
    private static let startup: Result<Int, TransportError> = {
        var already: Int32 = 0
        var rc = MPI_Initialized(&already)
        guard rc == MPI_SUCCESS else { return .failure(.failed(call: "MPI_Initialized", code: rc)) }
        var provided: Int32 = 0
        if already == 0 {
            rc = MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided)
            guard rc == MPI_SUCCESS else { return .failure(.failed(call: "MPI_Init_thread", code: rc)) }
            atexit { MPIRuntime.finalize() }
        } else {
            // Someone else started MPI; they also own finishing it.
            rc = MPI_Query_thread(&provided)
            guard rc == MPI_SUCCESS else { return .failure(.failed(call: "MPI_Query_thread", code: rc)) }
        }
        rc = MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return())
        guard rc == MPI_SUCCESS else { return .failure(.failed(call: "MPI_Comm_set_errhandler", code: rc)) }
        return .success(Int(provided))
    }()

    /// Starts MPI if this process has not yet; safe to call any number of times, from any thread.
    /// Returns the thread level the library provides (`MPI_THREAD_SINGLE` = 0 ... `MULTIPLE` = 3).
    @discardableResult
    public static func initialize() throws -> Int {
        try startup.get()
    }

    /// Whether MPI is running: initialised and not yet finalised.
    public static var isRunning: Bool {
        var initialized: Int32 = 0, finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        return initialized != 0 && finalized == 0
    }

    /// This process's rank in `MPI_COMM_WORLD`.
    public static func rank() throws -> Int {
        try initialize()
        var value: Int32 = 0
        try check(MPI_Comm_rank(cmpi_comm_world(), &value), "MPI_Comm_rank")
        return Int(value)
    }

    /// The number of ranks in `MPI_COMM_WORLD`.
    public static func size() throws -> Int {
        try initialize()
        var value: Int32 = 0
        try check(MPI_Comm_size(cmpi_comm_world(), &value), "MPI_Comm_size")
        return Int(value)
    }

    /// The name of the node this rank runs on (`MPI_Get_processor_name`).
    public static func processorName() throws -> String {
        try initialize()
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var length: Int32 = 0
        try check(MPI_Get_processor_name(&buffer, &length), "MPI_Get_processor_name")
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The MPI library's own version line (`MPI_Get_library_version`), e.g. "Open MPI v4.1.4, ...".
    public static func libraryVersion() -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == MPI_SUCCESS else { return "unknown MPI" }
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    /// Prints `message` to standard error and ends the whole job with `MPI_Abort`, so that a
    /// fatal error on one rank does not leave the others waiting forever. The line starts with
    /// "rank N: " unless `namingRank` is false.
    public static func abort(_ message: String, code: Int32 = 1, namingRank: Bool = true) -> Never {
        let prefix = namingRank ? (try? rank()).map { "rank \($0): " } ?? "" : ""
        FileHandle.standardError.write(Data((prefix + message + "\n").utf8))
        if isRunning { MPI_Abort(cmpi_comm_world(), code) }
        exit(code)
    }

    /// Finishes MPI if it is running. Registered with `atexit` by `initialize()`; calling it
    /// earlier by hand is allowed, and MPI cannot be used afterwards.
    public static func finalize() {
        if isRunning { MPI_Finalize() }
    }

    /// The text of an MPI error code, e.g. "MPI_ERR_TRUNCATE: message truncated".
    public static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "MPI error \(code)" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func check(_ code: Int32, _ call: @autoclosure () -> String) throws {
        guard code == MPI_SUCCESS else {
            throw TransportError.failed(call: "\(call()) (\(errorString(code)))", code: code)
        }
    }
}
