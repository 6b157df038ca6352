extension JobFile {
    /// Checks the model-source keys that need no file to check (`ModelSource` checks the rest).
    func validateModelSource() throws {
        func fail(_ message: String) -> JobFileError { JobFileError(path, message) }
        guard ["byte", "bpe", "hf"].contains(tokenizer) else {
            throw fail("'data.tokenizer' must be \"byte\", \"bpe\" or \"hf\", not \"\(tokenizer)\"")
        }
        if tokenizerJSON != nil && tokenizer != "hf" {
            throw fail("'data.tokenizer_json' needs data.tokenizer = \"hf\"; set it, or remove data.tokenizer_json")
        }
        guard (vocab == nil) == (merges == nil) else {
            throw fail("'data.vocab' and 'data.merges' go together; set both (a GPT-2 vocab.json and merges.txt) or neither")
        }
        if vocab != nil && tokenizer != "bpe" {
            throw fail("'data.vocab' and 'data.merges' need data.tokenizer = \"bpe\"; set it, or remove them")
        }
        if let initModel, initModel.isEmpty {
            throw fail("'model.init' is empty; set it to a Hugging Face GPT-2 folder, a .safetensors file, a fedcybgd checkpoint or run folder, or remove it")
        }
    }
}
