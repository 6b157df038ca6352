import Corpus
import GPT

/// Held-out evaluation on fixed batches of the validation text.
struct Evaluation {
    private let batches: [(inputs: [Int32], targets: [Int32])]
    private let evaluator: GPTEvaluator

    init(settings: FederationSettings, validation: [TokenID]) {
        batches = BatchSampler.validationBatches(tokens: validation, batch: settings.batch,
                                                 sequence: settings.sequence, maxBatches: settings.evalBatches)
        evaluator = GPTEvaluator(config: settings.model, batch: settings.batch, sequence: settings.sequence)
    }

    func loss(of parameters: ParameterBuffer) -> Float {
        guard !batches.isEmpty else { return .nan }
        let total = batches.reduce(0.0) {
            $0 + Double(evaluator.loss(parameters: parameters, inputs: $1.inputs, targets: $1.targets))
        }
        return Float(total / Double(batches.count))
    }
}
