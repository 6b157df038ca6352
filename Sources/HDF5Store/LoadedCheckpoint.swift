import Federation
import GPT

/// A checkpoint read back: the parameters, the run state and the job text.
public struct LoadedCheckpoint {
    public let parameters: ParameterBuffer
    public let state: RunState
    public let jobText: String
}
