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

    public func resume(jobText: String, layout: ParameterLayout, round: Int) throws {
        self.jobText = jobText
        records.removeAll { $0.round > round }
        answers.removeAll { $0.round > round }
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
