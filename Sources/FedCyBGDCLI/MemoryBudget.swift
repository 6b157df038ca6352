import Foundation

/// Memory this host can give the job: `MemAvailable`, or the cgroup's limit when lower.
enum MemoryBudget {
    static func available() -> (bytes: Double, source: String)? {
        var best: (Double, String)?
        if let available = meminfo("MemAvailable") { best = (available, "MemAvailable in /proc/meminfo") }
        if let limit = cgroupLimit(), limit < (best?.0 ?? .infinity) { best = (limit, "the cgroup's memory limit") }
        return best
    }

    private static func meminfo(_ key: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kb = Double(fields[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// cgroup v2 `memory.max` or v1 `memory.limit_in_bytes` of this process's cgroup.
    private static func cgroupLimit() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        var candidates: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" {
                candidates += ["/sys/fs/cgroup\(path)/memory.max", "/sys/fs/cgroup/memory.max"]
            } else if fields[1].split(separator: ",").contains("memory") {
                candidates += ["/sys/fs/cgroup/memory\(path)/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
            }
        }
        for file in candidates {
            guard let raw = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if value == "max" { continue }
            // v1 reports "no limit" as a huge page-rounded number.
            if let limit = Double(value), limit < 1e18 { return limit }
        }
        return nil
    }
}

/// Human-readable byte counts for the estimate's messages.
enum ByteText {
    static func format(_ bytes: Double) -> String {
        guard bytes.isFinite else { return "more than 1 EB" }
        let units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"]
        var value = bytes, unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        if unit == 0 { return "\(Int(value)) B" }
        let number = value >= 1e4 ? String(format: "%.3g", value) : String(format: value < 10 ? "%.2f" : "%.1f", value)
        return number + " " + units[unit]
    }
}
