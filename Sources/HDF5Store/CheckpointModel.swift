import Foundation
import GPT

extension HDF5RunReader {
    /// The model shape a checkpoint records in its `/model` attributes (GPT-2: the Hugging Face names
    /// `vocab_size`, `n_positions`, `n_embd`, `n_layer`, `n_head`, `layer_norm_epsilon`; other
    /// families: `architecture` and the whole Hugging Face `config_json`, so their shape attributes,
    /// under the family's own names or, in older Llama checkpoints, GPT-2's, are not read), so a run
    /// can be read without the job's model source (an init folder may be gone by then).
    public static func modelConfig(_ path: String) throws -> GPTConfig {
        let file = try HDF5File.open(path)
        defer { try? file.close() }
        guard try file.contains("model") else { throw HDF5Error(.mismatch, file: path, "has no /model group") }
        let model = try file.openGroup("model")
        func int(_ name: String) throws -> Int {
            guard try model.hasAttribute(name) else {
                throw HDF5Error(.mismatch, file: path, "/model lacks the attribute \(name); the checkpoint was written without a model config")
            }
            return try model.attribute(name, as: Int.self)
        }
        if try model.hasAttribute("architecture"), try model.stringAttribute("architecture") != Architecture.gpt2.rawValue {
            guard try model.hasAttribute("config_json") else {
                throw HDF5Error(.mismatch, file: path, "/model lacks the attribute config_json; the checkpoint was written without a model config")
            }
            do { return try HuggingFaceModel.config(json: Data(try model.stringAttribute("config_json").utf8)) } catch {
                throw HDF5Error(.corrupt, file: path, "/model's config_json does not make a valid model config: \(error)")
            }
        }
        let epsilon = try model.hasAttribute("layer_norm_epsilon") ? try model.attribute("layer_norm_epsilon", as: Float.self) : 1e-5
        let config = GPTConfig(vocabSize: try int("vocab_size"), contextLength: try int("n_positions"), embedDim: try int("n_embd"),
                               layers: try int("n_layer"), heads: try int("n_head"), layerNormEpsilon: epsilon)
        do { try config.validate() } catch {
            throw HDF5Error(.corrupt, file: path, "/model attributes do not make a valid GPT-2 config: \(error)")
        }
        return config
    }
}
