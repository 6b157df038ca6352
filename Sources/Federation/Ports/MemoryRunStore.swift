import GPT

/// A run store that keeps everything in memory, for tests of the algorithm.
public final class MemoryRunStore: RunStore {
    public private(set) var jobText = ""
    public private(set) var records: [RoundRecord] = []
    public private(set) var checkpoints: [(state: RunState, parameters: [Float])] = []
    public private(set) var summary: RunSummary?

    public init() {}

    public func begin(jobText: String, layout: ParameterLayout, clientsPerRound: Int) throws {
        self.jobText = jobText
    }

    /// The notes of each resume, oldest first.
    public private(set) var resumeNotes: [String] = []

    public func latestCheckpoint(passedOver: (_ name: String, _ problem: String) -> Void) throws -> StoredCheckpoint? {
        checkpoints.last.map { StoredCheckpoint(name: "checkpoint of round \($0.state.round)", jobText: jobText) }
    }

    public func load(_ checkpoint: StoredCheckpoint, layout: ParameterLayout) throws -> CheckpointContents {
        guard let stored = checkpoints.last, stored.parameters.count == layout.parameterCount else {
            throw MemoryRunStoreError(description: "\(checkpoint.name) does not hold \(layout.parameterCount) parameters")
        }
        let parameters = ParameterBuffer(layout: layout)
        stored.parameters.withUnsafeBufferPointer { _ = parameters.storage.update(fromContentsOf: $0) }
        return CheckpointContents(parameters: parameters, state: stored.state)
    }

    public func resume(jobText: String, layout: ParameterLayout, round: Int, note: String) throws {
        self.jobText = jobText
        records.removeAll { $0.round > round }
        answers.removeAll { $0.round > round }
        resumeNotes.append(note)
    }

    public func holdsFinishedRun(throughRound round: Int) -> Bool {
        summary != nil && records.last?.round == round
    }

    public func append(_ record: RoundRecord) throws { records.append(record) }

    public func recordedRounds() throws -> [RoundRecord] { records }

    public private(set) var snapshots: [(block: Int, round: Int, values: [Float])] = []

    public func appendSnapshot(block: Int, round: Int, values: UnsafeBufferPointer<Float>) throws {
        snapshots.append((block, round, Array(values)))
    }

    public func saveCheckpoint(parameters: ParameterBuffer, state: RunState) throws {
        checkpoints.append((state, Array(parameters.storage)))
    }

    public func finish(_ summary: RunSummary) throws { self.summary = summary }

    public private(set) var tasks: [String] = []
    public private(set) var answers: [(round: Int, answers: [GeneratedAnswer])] = []
    public private(set) var test: EvaluationScores?

    public func recordTasks(_ tasks: [String], validationTokens: [Int]) throws { self.tasks = tasks }
    public func appendAnswers(_ answers: [GeneratedAnswer], round: Int) throws { self.answers.append((round, answers)) }
    public func recordTest(_ scores: EvaluationScores, round: Int) throws { test = scores }
}

/// A checkpoint the in-memory store cannot give back.
public struct MemoryRunStoreError: Error, CustomStringConvertible {
    public let description: String
}
