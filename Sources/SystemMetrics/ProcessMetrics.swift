#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time and peak memory of this process, as the kernel measured them: the operating-system
/// side of Federation's `ProcessProbe` (`SystemProcessProbe`).
public enum ProcessMetrics {
    /// User plus system CPU seconds used so far.
    public static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(rusageSelf, &usage)
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Peak resident set size of this process so far, in bytes: the kernel's high-water mark
    /// `VmHWM` from /proc/self/status where there is one, otherwise `ru_maxrss`.
    public static func peakRSSBytes() -> Int {
        if let measured = vmHWMBytes() { return measured }
        return peakResidentBytes()
    }

    /// `VmHWM` ("VmHWM:   12345 kB") read from /proc/self/status, or nil without procfs.
    static func vmHWMBytes(status path: String = "/proc/self/status") -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            guard text.hasPrefix("VmHWM:") else { continue }
            let fields = text.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            guard let number = fields.first.flatMap({ Int($0) }) else { return nil }
            return fields.count > 1 && fields[1] == "kB" ? number * 1024 : number
        }
        return nil
    }

    /// Peak resident set size so far, in bytes, as `getrusage` reports it.
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(rusageSelf, &usage)
        #if canImport(Darwin)
        return Int(usage.ru_maxrss)
        #else
        return Int(usage.ru_maxrss) * 1024
        #endif
    }

    /// Seconds on a monotonic clock.
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    #if canImport(Glibc)
    private static let rusageSelf = __rusage_who_t(RUSAGE_SELF.rawValue)
    #else
    private static let rusageSelf = RUSAGE_SELF
    #endif

    private static func seconds(_ value: timeval) -> Double {
        Double(value.tv_sec) + Double(value.tv_usec) * 1e-6
    }
}
