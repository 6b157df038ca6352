import Corpus
import GPT

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

    /// The sample-weighted mean of one of the uploads' losses.
    public static func weightedLoss(_ uploads: [ReceivedUpload], _ loss: KeyPath<UploadHeader, Float>) -> Float {
        let total = uploads.reduce(0.0) { $0 + Double($1.header.sampleCount) }
        return Float(uploads.reduce(0.0) { $0 + Double($1.header[keyPath: loss]) * Double($1.header.sampleCount) } / total)
    }
}
