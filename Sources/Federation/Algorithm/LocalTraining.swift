import Corpus
import GPT

/// A client's local work, apart from any transport, so tests and baselines can call it directly.
public enum LocalTraining {
    /// Trains what round `round` trains (`block`, every block, or the LoRA adapters) in `model`
    /// in place, for `settings.localSteps` AdamW steps with fresh optimizer state, on batches
    /// drawn from (seed, round, client, step); returns the mean loss over the steps and the
    /// losses of the first and last step.
    public static func run(model: FederatedModel, block: Int, tokens: [TokenID], client: Int, round: Int,
                           learningRate: Float, settings: FederationSettings) -> (mean: Float, first: Float, last: Float) {
        var optimizer = settings.optimizer
        optimizer.learningRate = learningRate
        let steps = settings.localSteps(forClientTokens: tokens.count)
        func batch(_ step: Int) -> (inputs: [Int32], targets: [Int32]) {
            BatchSampler.trainingBatch(tokens: tokens, batch: settings.batch, sequence: settings.sequence,
                                       seed: settings.seed, round: round, client: client, step: step)
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
            let trainable = Set(settings.trainedUnits(block: block, model: model))
            let trainer = GPTTrainer(config: settings.model, batch: settings.batch, sequence: settings.sequence,
                                     trainableBlocks: trainable, skippedLayers: settings.droppedLayers(block: block))
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
