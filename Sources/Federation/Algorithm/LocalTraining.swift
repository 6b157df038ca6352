import Corpus
import GPT

/// A client's local work, apart from any transport, so tests and baselines can call it directly.
public enum LocalTraining {
    /// Trains what `plan` trains (one block, every block, or the LoRA adapters) in `model` in
    /// place, skipping the plan's dropped layers, for `settings.localSteps` AdamW steps with fresh
    /// optimizer state, on batches drawn from (seed, round, client, step); returns the mean loss
    /// over the steps and the losses of the first and last step.
    public static func run(model: FederatedModel, plan: RoundPlan, tokens: [TokenID], client: Int,
                           settings: FederationSettings) -> (mean: Float, first: Float, last: Float) {
        var optimizer = settings.optimizer
        optimizer.learningRate = plan.learningRate
        let steps = settings.localSteps(forClientTokens: tokens.count)
        func batch(_ step: Int) -> (inputs: [Int32], targets: [Int32]) {
            BatchSampler.trainingBatch(tokens: tokens, batch: settings.batch, sequence: settings.sequence,
                                       seed: settings.seed, round: plan.round, client: client, step: step)
        }
        var losses: [Float] = []
        if let adapters = model.adapters {
            let trainer = LoRATrainer(model: settings.model, lora: settings.lora, batch: settings.batch,
                                      sequence: settings.sequence)
            for step in 0..<steps {
                let b = batch(step)
                losses.append(trainer.step(base: model.parameters, adapters: adapters, inputs: b.inputs,
                                           targets: b.targets, settings: optimizer))
            }
        } else {
            let trainer = GPTTrainer(config: settings.model, batch: settings.batch, sequence: settings.sequence,
                                     trainableBlocks: Set(plan.trainedUnits), skippedLayers: plan.droppedLayers)
            for step in 0..<steps {
                let b = batch(step)
                losses.append(trainer.step(parameters: model.parameters, inputs: b.inputs, targets: b.targets,
                                           settings: optimizer))
            }
        }
        let mean = losses.reduce(0.0) { $0 + Double($1) } / Double(max(losses.count, 1))
        return (Float(mean), losses.first ?? .nan, losses.last ?? .nan)
    }
}
