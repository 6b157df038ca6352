import Corpus
import GPT

/// The response loss of instruction data on fixed batches of held-out rows, overall and per
/// task, from one forward pass per batch.
///
/// The overall loss is accumulated as it always was (each batch's mean weighted by its counted
/// targets), so it keeps its bits; each task's loss is the mean of its own targets' losses in
/// the same batches, so the tasks' losses weighted by their token counts average to the overall
/// loss (up to rounding) when every record has a task.
struct HeldOutLoss {
    private let batches: [(inputs: [Int32], targets: [Int32])]
    /// Per batch and target position: the task of the record the target belongs to, or -1.
    private let taskOfTarget: [[Int32]]
    private let taskCount: Int
    private let evaluator: GPTEvaluator

    /// Batches of `batch` rows, at most `maxBatches` (nil: every row), spread evenly over the
    /// rows that `records` pack into.
    init(records: [TokenizedRecord], context: HeldOutContext?, padding: TokenID, batch: Int, maxBatches: Int?,
         evaluator: GPTEvaluator, sequence: Int, pack: Bool) {
        let rows = TokenRows(records: records, sequence: sequence, pack: pack, padding: padding)
        let owners = TokenRows.targetOwners(records: records, sequence: sequence, pack: pack)
        let recordTask = records.map { record in Int32(context?.task(of: record) ?? -1) }
        let limit = maxBatches ?? (rows.count + batch - 1) / batch
        let chosen = BatchSampler.validationRowIndices(rowCount: rows.count, batch: batch, maxBatches: limit)
        batches = chosen.map { rows.gather($0) }
        taskOfTarget = chosen.map { indices in
            indices.flatMap { row -> [Int32] in
                guard let row else { return [Int32](repeating: -1, count: sequence) }
                return owners[(row * sequence)..<((row + 1) * sequence)].map { $0 >= 0 ? recordTask[Int($0)] : -1 }
            }
        }
        taskCount = context?.tasks.count ?? 0
        self.evaluator = evaluator
    }

    /// Counted targets per task over the batches.
    var taskTokens: [Int] {
        var counts = [Int](repeating: 0, count: taskCount)
        for (batch, tasks) in zip(batches, taskOfTarget) {
            for (target, task) in zip(batch.targets, tasks) where target >= 0 && task >= 0 { counts[Int(task)] += 1 }
        }
        return counts
    }

    /// The overall and per-task losses of `parameters` into `scores`.
    func measure(_ parameters: ParameterBuffer, into scores: inout EvaluationScores) {
        guard !batches.isEmpty else { return }
        var sum = 0.0, count = 0
        var taskSums = [Double](repeating: 0, count: taskCount), taskCounts = [Int](repeating: 0, count: taskCount)
        for (batch, tasks) in zip(batches, taskOfTarget) {
            let (mean, losses) = evaluator.targetLosses(parameters: parameters, inputs: batch.inputs, targets: batch.targets)
            var counted = 0
            for (index, target) in batch.targets.enumerated() where target >= 0 {
                counted += 1
                let task = Int(tasks[index])
                if task >= 0 { taskSums[task] += losses[index]; taskCounts[task] += 1 }
            }
            sum += mean * Double(counted)
            count += counted
        }
        scores.loss = Float(sum / Double(max(count, 1)))
        scores.taskLoss = zip(taskSums, taskCounts).map { $1 > 0 ? Float($0 / Double($1)) : .nan }
        scores.taskTokens = taskCounts
    }
}
