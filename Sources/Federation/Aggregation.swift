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

/// Sample-weighted averaging of client uploads, summed in client order so the result does not
/// depend on how many ranks the job runs on.
public enum Aggregation {
    public static func weightedMean(_ uploads: [ReceivedUpload], into target: UnsafeMutableBufferPointer<Float>) {
        if uploads.count == 1 {
            // One client: install its values exactly, with no rounding through a weight.
            uploads[0].values.withUnsafeBufferPointer { _ = target.update(fromContentsOf: $0) }
            return
        }
        let total = uploads.reduce(0.0) { $0 + Double($1.header.sampleCount) }
        var sum = [Double](repeating: 0, count: target.count)
        for upload in uploads {
            let weight = Double(upload.header.sampleCount) / total
            upload.values.withUnsafeBufferPointer { values in
                for i in 0..<sum.count { sum[i] += weight * Double(values[i]) }
            }
        }
        for i in 0..<target.count { target[i] = Float(sum[i]) }
    }

    /// Euclidean distance between a block before and after an update.
    public static func distance(_ before: [Float], _ after: UnsafeMutableBufferPointer<Float>) -> Float {
        var sum = 0.0
        for i in 0..<before.count {
            let d = Double(after[i]) - Double(before[i])
            sum += d * d
        }
        return Float(sum.squareRoot())
    }
}
