import Foundation

/// How closely this engine reproduces a reference (Hugging Face / PyTorch) run.
public struct ReferenceReport: CustomStringConvertible, Sendable {
    /// One compared quantity: max|ours - ref| / max|ref| against its tolerance.
    public struct Entry: Sendable {
        public let name: String
        public let maxRelativeError: Double
        public let tolerance: Double
        public var passed: Bool { maxRelativeError <= tolerance }
    }

    public let folder: String
    public let config: GPTConfig
    public let batch: Int
    public let sequence: Int
    public let entries: [Entry]

    public var passed: Bool { entries.allSatisfy(\.passed) }

    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The worst relative error among entries whose name starts with `prefix`.
    public func worst(prefix: String) -> Double {
        entries.filter { $0.name.hasPrefix(prefix) }.map(\.maxRelativeError).max() ?? 0
    }

    public var description: String {
        let c = config
        var lines = [
            "reference check of \(folder)",
            "config: \(c.familyName), vocab \(c.vocabSize), positions \(c.contextLength), width \(c.embedDim), layers \(c.layers), heads \(c.heads)"
                + c.family.attentionNote(c) + "; batch \(batch) x sequence \(sequence)",
        ]
        let width = max(8, entries.map(\.name.count).max() ?? 0)
        for e in entries {
            let name = e.name.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(String(format: "%.3e", e.maxRelativeError))  (tol \(String(format: "%.0e", e.tolerance)))  \(e.passed ? "ok" : "FAIL")")
        }
        lines.append(passed ? "PASSED: all \(entries.count) checks within tolerance"
                            : "FAILED: \(entries.filter { !$0.passed }.count) of \(entries.count) checks out of tolerance")
        return lines.joined(separator: "\n")
    }
}

/// Checks the engine against a folder in the reference-fixture layout.
public enum ReferenceCheck {
    public static let logitsTolerance = 1e-5
    public static let lossTolerance = 1e-5
    public static let gradientTolerance = 2e-5
    public static let adamWLossTolerance = 1e-5
    /// The optimizer run the fixture records: 3 steps on the same batch, all parameters trainable.
    public static let adamWSettings = AdamWSettings(learningRate: 1e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1)

    /// Loads `folder` (config.json, model.safetensors, expected.safetensors with input_ids, targets,
    /// logits, loss, grad.<name> (grad.lm_head.weight optional, compared with wte's tied gradient) and
    /// adamw_losses, each the loss measured after its step), runs forward, backward and AdamW, and reports
    /// the max relative error of each against its tolerance. Batch and sequence come from input_ids' shape.
    /// `willCompute` runs once the folder's files have been read, before the first pass.
    public static func verify(folder: String, willCompute: () -> Void = {}) throws -> ReferenceReport {
        let parameters = try HuggingFaceModel.load(folder: folder)
        let config = parameters.layout.config
        let expected = try SafeTensorsFile(path: folder + "/expected.safetensors")
        let idsEntry = try expected.entry("input_ids")
        guard idsEntry.shape.count == 2 else {
            throw GPTError.shapeMismatch(tensor: "input_ids", expected: [-1, -1], found: idsEntry.shape)
        }
        let (batch, sequence) = (idsEntry.shape[0], idsEntry.shape[1])
        guard sequence <= config.contextLength, batch > 0, sequence > 0 else {
            throw GPTError.invalidConfig("input_ids shape \(idsEntry.shape) does not fit n_positions \(config.contextLength)")
        }
        let inputs = try expected.int32s("input_ids"), targets = try expected.int32s("targets")
        guard targets.count == inputs.count else {
            throw GPTError.shapeMismatch(tensor: "targets", expected: idsEntry.shape, found: try expected.entry("targets").shape)
        }
        willCompute()
        for t in inputs where t < 0 || Int(t) >= config.vocabSize {
            throw GPTError.invalidConfig("input_ids holds token \(t), outside vocab_size \(config.vocabSize)")
        }
        for t in targets where Int(t) >= config.vocabSize {
            throw GPTError.invalidConfig("targets holds token \(t), outside vocab_size \(config.vocabSize)")
        }
        var entries: [ReferenceReport.Entry] = []
        let evaluator = GPTEvaluator(config: config, batch: batch, sequence: sequence)
        let logits = evaluator.logits(parameters: parameters, inputs: inputs)
        entries.append(.init(name: "logits", maxRelativeError: try compare(logits, expected, "logits", [batch, sequence, config.vocabSize]),
                             tolerance: logitsTolerance))
        let all = Set(0..<parameters.layout.blockCount)
        let trainer = GPTTrainer(config: config, batch: batch, sequence: sequence, trainableBlocks: all)
        let loss = trainer.forwardBackward(parameters: parameters, inputs: inputs, targets: targets)
        entries.append(.init(name: "loss", maxRelativeError: try compare([loss], expected, "loss", nil), tolerance: lossTolerance))
        entries += try gradientEntries(trainer, parameters.layout, expected)
        entries.append(.init(name: "adamw_losses", maxRelativeError: try adamWError(trainer, parameters, evaluator, inputs, targets, expected),
                             tolerance: adamWLossTolerance))
        return ReferenceReport(folder: folder, config: config, batch: batch, sequence: sequence, entries: entries)
    }

    private static func gradientEntries(_ trainer: GPTTrainer, _ layout: ParameterLayout, _ expected: SafeTensorsFile) throws -> [ReferenceReport.Entry] {
        var entries: [ReferenceReport.Entry] = []
        for slot in layout.tensors {
            let short = slot.name.hasPrefix("transformer.") ? String(slot.name.dropFirst("transformer.".count)) : slot.name
            let key = expected.entries["grad." + slot.name] != nil ? "grad." + slot.name : "grad." + short
            let ours = Array(trainer.gradient(of: slot)!)
            entries.append(.init(name: "grad." + slot.name, maxRelativeError: try compare(ours, expected, key, slot.shape),
                                 tolerance: gradientTolerance))
        }
        if layout.config.tiedHead, expected.entries["grad.lm_head.weight"] != nil {
            let wte = layout.tensors[0]
            let ours = Array(trainer.gradient(of: wte)!)
            entries.append(.init(name: "grad.lm_head.weight", maxRelativeError: try compare(ours, expected, "grad.lm_head.weight", wte.shape),
                                 tolerance: gradientTolerance))
        }
        return entries
    }

    /// Three AdamW steps on a copy of the parameters, the loss measured after each step (as the fixture records it).
    private static func adamWError(
        _ trainer: GPTTrainer, _ parameters: ParameterBuffer, _ evaluator: GPTEvaluator,
        _ inputs: [Int32], _ targets: [Int32], _ expected: SafeTensorsFile
    ) throws -> Double {
        let reference = try expected.floats("adamw_losses")
        let params = parameters.copy()
        trainer.resetOptimizer()
        var losses: [Float] = []
        for _ in 0..<reference.count {
            _ = trainer.step(parameters: params, inputs: inputs, targets: targets, settings: adamWSettings)
            losses.append(evaluator.loss(parameters: params, inputs: inputs, targets: targets))
        }
        return try compare(losses, expected, "adamw_losses", nil)
    }

    /// max|ours - ref| / max|ref| for the named reference tensor, after checking its shape when given.
    static func compare(_ ours: [Float], _ expected: SafeTensorsFile, _ name: String, _ shape: [Int]?) throws -> Double {
        let entry = try expected.entry(name)
        if let shape, entry.shape != shape {
            throw GPTError.shapeMismatch(tensor: name, expected: shape, found: entry.shape)
        }
        let reference = try expected.floats(name)
        guard reference.count == ours.count else {
            throw GPTError.shapeMismatch(tensor: name, expected: [ours.count], found: entry.shape)
        }
        return maxRelativeError(ours, reference)
    }

    /// max|a - b| / max|b| (0 when both are all zero; infinite when only `b` is).
    public static func maxRelativeError(_ a: [Float], _ b: [Float]) -> Double {
        var diff = 0.0, scale = 0.0
        for i in 0..<min(a.count, b.count) {
            diff = max(diff, abs(Double(a[i]) - Double(b[i])))
            scale = max(scale, abs(Double(b[i])))
        }
        if a.contains(where: { !$0.isFinite }) { return .infinity }
        if scale == 0 { return diff == 0 ? 0 : .infinity }
        return diff / scale
    }
}
