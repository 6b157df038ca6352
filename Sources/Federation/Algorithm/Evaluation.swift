import Corpus
import GPT

/// Held-out evaluation on fixed batches of the validation text, or of the validation rows of
/// instruction data.
struct Evaluation {
    private let batches: [(inputs: [Int32], targets: [Int32])]
    private let evaluator: GPTEvaluator
    /// Rows weigh each batch by its counted targets (batches of text all count the same).
    private let weighsByCount: Bool

    init(settings: FederationSettings, corpus: FederatedCorpus) {
        if let rows = corpus.validationRows {
            batches = BatchSampler.validationRowIndices(rowCount: rows.count, batch: settings.batch, maxBatches: settings.evalBatches)
                .map { rows.gather($0) }
            weighsByCount = true
        } else {
            batches = BatchSampler.validationBatches(tokens: corpus.validation, batch: settings.batch,
                                                     sequence: settings.sequence, maxBatches: settings.evalBatches)
            weighsByCount = false
        }
        evaluator = GPTEvaluator(config: settings.model, batch: settings.batch, sequence: settings.sequence)
    }

    /// The mean loss per counted target (nats/token) over the batches; NaN when there are none.
    func loss(of parameters: ParameterBuffer) -> Float {
        guard !batches.isEmpty else { return .nan }
        guard weighsByCount else {
            let total = batches.reduce(0.0) {
                $0 + Double(evaluator.loss(parameters: parameters, inputs: $1.inputs, targets: $1.targets))
            }
            return Float(total / Double(batches.count))
        }
        var sum = 0.0, count = 0
        for batch in batches {
            let counted = batch.targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
            sum += evaluator.meanLoss(parameters: parameters, inputs: batch.inputs, targets: batch.targets) * Double(counted)
            count += counted
        }
        return Float(sum / Double(max(count, 1)))
    }
}
