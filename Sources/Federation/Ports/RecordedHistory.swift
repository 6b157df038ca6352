/// A run store that can hand back the rows it holds, so a resumed run's summary can include
/// the rounds before the resume.
public protocol RecordedHistory: AnyObject {
    /// The stored rows, oldest first.
    func recordedRounds() throws -> [RoundRecord]
}

extension MemoryRunStore: RecordedHistory {
    public func recordedRounds() throws -> [RoundRecord] { records }
}
