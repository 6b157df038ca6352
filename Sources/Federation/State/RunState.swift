/// Where the run stands after a round: everything a checkpoint must hold besides the parameters
/// and the job, so that a resumed run equals the uninterrupted one bit for bit. Each part is the
/// state of the component that owns it. Random draws need no saved state: they are keyed by
/// (seed, round, client), and the learning rate by the round.
public struct RunState: Sendable, Equatable {
    /// The round completed, its cycle and that cycle's block order.
    public var schedule: CycleSchedule.State
    public var totals: RunTotals
    /// The update-norm guard's memory: recent accepted update sizes and how many were accepted.
    public var updateNorms: UpdateNormGuard.State
    /// Delta sync's memory: what each client holds of each unit.
    public var downloads: DownloadPlanner.State
    /// The LoRA adapters of a fedlora run (empty otherwise).
    @BitExact public var adapters: [Float] = []

    public init(schedule: CycleSchedule.State, totals: RunTotals, updateNorms: UpdateNormGuard.State = .init(),
                downloads: DownloadPlanner.State, adapters: [Float] = []) {
        self.schedule = schedule; self.totals = totals; self.updateNorms = updateNorms
        self.downloads = downloads; self.adapters = adapters
    }

    /// Rounds completed.
    public var round: Int { schedule.round }
}
