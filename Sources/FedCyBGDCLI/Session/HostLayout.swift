import Foundation

/// Where this rank runs: the job's ranks, how many of them share this host, and its cores.
/// Read once from the environment Open MPI sets, so the thread plan and the memory check agree.
struct HostLayout: Equatable {
    /// Ranks in the whole job.
    let ranks: Int
    /// Ranks of the job on this host (Open MPI's local size, clamped to 1...ranks; every rank without it).
    let localRanks: Int
    let cores: Int

    init(ranks: Int, localRanks: Int?, cores: Int) {
        self.ranks = ranks
        self.localRanks = localRanks.map { min(max($0, 1), ranks) } ?? ranks
        self.cores = cores
    }

    /// This process's layout, from `OMPI_COMM_WORLD_LOCAL_SIZE` and the active processors.
    static func current(ranks: Int) -> HostLayout {
        HostLayout(ranks: ranks, localRanks: Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? ""),
                   cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// OpenBLAS threads per rank, so computing ranks never outnumber the cores: `requested` when
    /// set, else the cores shared among the ranks of this host that compute at once (at most
    /// min(k, client ranks here) with k clients training per round).
    func blasThreads(requested: Int, clientsTrainingPerRound: Int) -> Int {
        if requested > 0 { return requested }
        let busy = max(1, min(clientsTrainingPerRound, max(localRanks - 1, 1)))
        return max(1, cores / busy)
    }
}
