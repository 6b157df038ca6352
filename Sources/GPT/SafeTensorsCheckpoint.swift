import Foundation

/// The weights of a Hugging Face model folder, whatever the architecture: `model.safetensors`, or
/// the shards that `model.safetensors.index.json` maps tensor names to. Float tensors come back as
/// fp32 whether stored as F32, F16 or BF16.
public struct HuggingFaceWeights: Sendable {
    /// The weight files, in the order of their paths.
    public let files: [SafeTensorsFile]
    /// The path of each of `files`.
    public let paths: [String]
    /// The index into `files` of the file holding each tensor.
    private let fileIndex: [String: Int]

    /// Finds and reads the weight files of `folder`; with an index, checks that every shard it
    /// names exists and holds the tensors mapped to it.
    public init(folder: String) throws {
        var files: [SafeTensorsFile] = [], paths: [String] = []
        if let single = Self.singleFile(folder) {
            files = [try SafeTensorsFile(path: single)]
            paths = [single]
        } else {
            let (indexPath, weightMap) = try Self.readIndex(folder)
            let shards = Set(weightMap.values).sorted()
            for shard in shards {
                let path = HuggingFaceFolder.file(folder, shard)
                guard FileManager.default.fileExists(atPath: path) else {
                    let tensor = weightMap.filter { $0.value == shard }.keys.min()!
                    throw GPTError.io("shard \(shard) is missing from \(folder) (\(indexPath) maps \(tensor) to it); "
                        + "download every shard the index lists")
                }
                files.append(try SafeTensorsFile(path: path))
                paths.append(path)
            }
            for (tensor, shard) in weightMap.sorted(by: { $0.key < $1.key })
            where files[shards.firstIndex(of: shard)!].entries[tensor] == nil {
                throw GPTError.safetensors("tensor \(tensor) is missing from shard \(shard), where \(indexPath) maps it; "
                    + "the shard is damaged or from another checkpoint, download it again")
            }
        }
        self.files = files
        self.paths = paths
        fileIndex = try Self.locate(files, paths)
    }

    /// The paths of the weight files of `folder`: the single file, or every shard its index names.
    public static func filePaths(folder: String) throws -> [String] {
        if let single = singleFile(folder) { return [single] }
        return Set(try readIndex(folder).weightMap.values).sorted().map { HuggingFaceFolder.file(folder, $0) }
    }

    /// Every tensor name, sorted.
    public var names: [String] { fileIndex.keys.sorted() }

    /// Whether some weight file holds `name`.
    public func contains(_ name: String) -> Bool { fileIndex[name] != nil }

    /// The file that holds `name`.
    public func file(holding name: String) throws -> SafeTensorsFile {
        guard let i = fileIndex[name] else { throw GPTError.missingTensor(name) }
        return files[i]
    }

    /// The dtype, shape and place of `name`.
    public func entry(_ name: String) throws -> SafeTensorsFile.Entry { try file(holding: name).entry(name) }

    /// The shape of `name`.
    public func shape(_ name: String) throws -> [Int] { try entry(name).shape }

    /// A float tensor's values as fp32, flattened row-major.
    public func floats(_ name: String) throws -> [Float] { try file(holding: name).floats(name) }

    /// Copies a float tensor as fp32 into `destination`, which must hold exactly its element count.
    public func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try file(holding: name).copyFloats(name, into: destination)
    }

    private static func singleFile(_ folder: String) -> String? {
        let single = HuggingFaceFolder.file(folder, "model.safetensors")
        return FileManager.default.fileExists(atPath: single) ? single : nil
    }

    /// The index's path and its `weight_map`, tensor name → shard file name.
    private static func readIndex(_ folder: String) throws -> (indexPath: String, weightMap: [String: String]) {
        let indexPath = HuggingFaceFolder.file(folder, "model.safetensors.index.json")
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            let torch = FileManager.default.fileExists(atPath: HuggingFaceFolder.file(folder, "pytorch_model.bin"))
            throw GPTError.io("\(folder) has no model.safetensors or model.safetensors.index.json"
                + (torch ? " (only pytorch_model.bin, which this program does not read: save the model with safe_serialization=True)" : ""))
        }
        guard case .object(let root)? = try? JSONValue.parse(data), let map = root["weight_map"]?.objectValue else {
            throw GPTError.safetensors("\(indexPath) has no weight_map object")
        }
        var weightMap: [String: String] = [:]
        for (tensor, value) in map {
            guard let shard = value.stringValue else {
                throw GPTError.safetensors("\(indexPath) maps \(tensor) to something other than a file name")
            }
            guard !shard.contains("/"), shard != "..", shard != "." else {
                throw GPTError.safetensors("\(indexPath) names a shard outside the folder: \(shard)")
            }
            weightMap[tensor] = shard
        }
        guard !weightMap.isEmpty else { throw GPTError.safetensors("\(indexPath) lists no shards") }
        return (indexPath, weightMap)
    }

    /// Which file holds each tensor; a tensor held by two files is refused.
    private static func locate(_ files: [SafeTensorsFile], _ paths: [String]) throws -> [String: Int] {
        var index: [String: Int] = [:]
        for (i, file) in files.enumerated() {
            for name in file.entries.keys {
                if let other = index[name] {
                    throw GPTError.safetensors("tensor \(name) appears in both \(paths[other]) and \(paths[i]); "
                        + "the folder mixes two checkpoints, keep only the shards its index lists")
                }
                index[name] = i
            }
        }
        return index
    }
}
