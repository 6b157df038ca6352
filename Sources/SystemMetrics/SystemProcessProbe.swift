import Federation

/// The process probe of a real run: CPU time from getrusage, peak memory from /proc.
public struct SystemProcessProbe: ProcessProbe {
    public init() {}
    public func cpuSeconds() -> Double { ProcessMetrics.cpuSeconds() }
    public func peakRSSBytes() -> Int { ProcessMetrics.peakRSSBytes() }
}
