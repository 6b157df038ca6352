import Federation
import Foundation

/// Sizes a job before it starts: refuses one whose ranks on this host would need more memory
/// than the host has, and prints the estimate for `train --dry-run`.
struct MemoryCheck {
    let plan: RunPlan
    let estimate: MemoryEstimate
    let host: HostLayout

    init(plan: RunPlan, host: HostLayout) {
        self.plan = plan
        self.host = host
        let threads = plan.blasThreads(host: host)
        let bytes = Self.corpusBytes(plan.job.corpus)
        // Byte tokens are 4-byte ids per byte; GPT-2 BPE gives about one token per 3.5 bytes.
        let perByte = plan.job.tokenizer == .bpe ? 0.5 : 1.0
        estimate = MemoryEstimate(settings: plan.settings, corpusTokens: bytes * perByte, threads: threads)
    }

    /// Estimated bytes of the ranks on this host. Open MPI places ranks by slot, so the host of
    /// rank `rank` also runs rank 0 when `rank` is below the local size.
    func hostTotal(rank: Int, size: Int) -> (total: Double, holdsServer: Bool, local: Int) {
        let perRank = estimate.perRank(size: size)
        let local = host.localRanks
        let holdsServer = rank < local
        let client = perRank.count > 1 ? perRank[1] : 0
        let total = holdsServer ? perRank[0] + Double(local - 1) * client : Double(local) * client
        return (total, holdsServer, local)
    }

    /// Throws one line naming the estimate, the limit and the keys to change when the job cannot fit.
    func check(rank: Int, size: Int) throws {
        guard let budget = MemoryBudget.available() else { return }
        let host = hostTotal(rank: rank, size: size)
        guard !(host.total <= budget.bytes) else { return }
        let perRank = estimate.perRank(size: size)
        let who: String
        if size == 1 {
            who = "its one rank"
        } else {
            var parts: [String] = []
            if host.holdsServer { parts.append("rank 0, the server: \(ByteText.format(perRank[0]))") }
            let clients = host.holdsServer ? host.local - 1 : host.local
            if clients > 0 { parts.append("\(clients) client rank\(clients == 1 ? "" : "s") of \(ByteText.format(perRank[1])) each") }
            who = "its \(host.local) ranks on this host (\(parts.joined(separator: ", ")))"
        }
        var keys = "model.width, model.layers, train.batch or train.sequence"
        if [.fedavg, .centralized, .fedlora].contains(plan.settings.algorithm) {
            keys += ", or use train.algorithm = \"fedcybgd\", which trains one block at a time"
        }
        throw JobFileError(plan.job.path, "the job needs about \(ByteText.format(host.total)) of memory for \(who) "
            + "but this host has \(ByteText.format(budget.bytes)) available (\(budget.source)); lower \(keys) "
            + "(fedcybgd train JOB --dry-run prints the estimate)")
    }

    /// `--dry-run`: the estimate per rank, and whether it fits.
    func report(size: Int) {
        let say = ProgressPrinter.say
        let model = plan.settings.model
        say("memory estimate for \(plan.job.path): \(plan.settings.algorithm.rawValue), \(model.layers) layers × \(model.embedDim) wide, "
            + "\(Int(estimate.parameters)) parameters, batch \(plan.settings.batch) × sequence \(plan.settings.sequence)")
        let sizes = size == 1 ? [1, 3] : [size]
        for ranks in sizes {
            let perRank = estimate.perRank(size: ranks)
            if ranks == 1 {
                say("  1 rank (server and clients in one process): \(ByteText.format(perRank[0]))")
                describe(estimate.singleRank())
            } else {
                let clientsHere = estimate.clientsPerRank(size: ranks)
                say("  \(ranks) ranks: rank 0 (server) \(ByteText.format(perRank[0])); ranks 1-\(ranks - 1) (clients) "
                    + "\(ByteText.format(perRank[1])) each" + (size == 1 ? " (under mpirun -n \(ranks))" : ""))
                say("    server:")
                describe(estimate.serverRank(), indent: "      ")
                say("    each client rank (\(clientsHere) client\(clientsHere == 1 ? "" : "s") per round):")
                describe(estimate.clientRank(clientsOnRank: clientsHere), indent: "      ")
            }
        }
        let host = hostTotal(rank: 0, size: size)
        if let budget = MemoryBudget.available() {
            let verdict = host.total <= budget.bytes ? "fits" : "does NOT fit: train would refuse it"
            say("  this host, \(host.local) rank\(host.local == 1 ? "" : "s"): \(ByteText.format(host.total)) of "
                + "\(ByteText.format(budget.bytes)) available (\(budget.source)): \(verdict)")
        }
        say("dry run: nothing was created; the run folder would be \(plan.runFolder)")
    }

    private func describe(_ parts: [MemoryEstimate.Part], indent: String = "    ") {
        for part in parts { ProgressPrinter.say("\(indent)\(part.name): \(ByteText.format(part.bytes))") }
    }

    /// Bytes of the corpus's files (a file, or the regular files directly inside a folder,
    /// each counted once), read from the file system without opening them.
    static func corpusBytes(_ path: String) -> Double {
        let expanded = NSString(string: path).expandingTildeInPath
        var info = stat()
        guard stat(expanded, &info) == 0 else { return 0 }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return Double(info.st_size) }
        var seen = Set<UInt64>(), total = 0.0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: expanded)) ?? [] where !name.hasPrefix(".") {
            var file = stat()
            guard stat((expanded as NSString).appendingPathComponent(name), &file) == 0,
                  (file.st_mode & S_IFMT) == S_IFREG, seen.insert(UInt64(file.st_ino)).inserted else { continue }
            total += Double(file.st_size)
        }
        return total
    }
}
