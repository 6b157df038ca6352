import Corpus
import GPT

/// A client's local work, apart from any transport, so tests and baselines can call it directly.
public enum LocalTraining {
    /// Trains what `plan` trains (one block, every block, or the LoRA adapters) in `model` in
    /// place, skipping the plan's dropped layers, for `settings.localSteps` AdamW steps with fresh
    /// optimizer state, on batches of the shard's text windows or rows drawn from (seed, round,
    /// client, step); returns the mean loss over the steps and the losses of the first and last step.
    public static func run(model: FederatedModel, plan: RoundPlan, shard: ClientShard,
                           settings: FederationSettings) -> (mean: Float, first: Float, last: Float) {
        var optimizer = settings.optimizer
        optimizer.learningRate = plan.learningRate
        let steps = settings.localSteps(forClientTokens: shard.sampleCount)
        func batch(_ step: Int) -> (inputs: [Int32], targets: [Int32]) {
            trainingBatch(shard, round: plan.round, step: step, settings: settings)
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
                                     trainableBlocks: Set(plan.trainedUnits.map(model.units.block(ofUnit:))),
                                     skippedLayers: plan.droppedLayers,
                                     embeddingShard: plan.target.shard.map { EmbeddingShard(index: $0, of: settings.embeddingShards) })
            for step in 0..<steps {
                let b = batch(step)
                losses.append(trainer.step(parameters: model.parameters, inputs: b.inputs, targets: b.targets,
                                           settings: optimizer))
            }
        }
        let mean = losses.reduce(0.0) { $0 + Double($1) } / Double(max(losses.count, 1))
        return (Float(mean), losses.first ?? .nan, losses.last ?? .nan)
    }

    /// The batch a client trains on at `step` of `round`: drawn from (seed, round, client, step).
    static func trainingBatch(_ shard: ClientShard, round: Int, step: Int, settings: FederationSettings) -> (inputs: [Int32], targets: [Int32]) {
        BatchSampler.trainingBatch(shard.data, batch: settings.batch, sequence: settings.sequence, seed: settings.seed,
                                   round: round, client: shard.client, step: step)
    }

    /// Targets the loss counts over a client's visit in `round`: every position of its text
    /// windows, or the counted targets (no prompt, no padding) of the rows it draws.
    public static func countedTokens(_ shard: ClientShard, round: Int, settings: FederationSettings) -> Int {
        BatchSampler.countedTargets(shard.data, steps: settings.localSteps(forClientTokens: shard.sampleCount),
                                    batch: settings.batch, sequence: settings.sequence, seed: settings.seed,
                                    round: round, client: shard.client)
    }
}
