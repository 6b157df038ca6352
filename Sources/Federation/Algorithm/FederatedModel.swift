import GPT

/// What a federated run holds, sends and trains, as a list of *units*: the model's blocks
/// (0 = embeddings, 1...L = layers, L + 1 = final norm) and, for `fedlora`, one more unit with
/// every LoRA adapter. Each unit is one contiguous Float slice, so it travels with no packing.
public final class FederatedModel {
    public let parameters: ParameterBuffer
    /// The LoRA adapters (fedlora only), owned here.
    public let adapters: UnsafeMutableBufferPointer<Float>?
    private let rowLayouts: [RowLayout]

    /// `adapters` gives the adapter vector's layout when the run trains LoRA adapters.
    public init(parameters: ParameterBuffer, adapterRows: RowLayout? = nil) {
        self.parameters = parameters
        var rows = (0..<parameters.layout.blockCount).map { RowLayout(block: $0, of: parameters.layout) }
        if let adapterRows {
            let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: adapterRows.count)
            storage.initialize(repeating: 0)
            adapters = storage
            rows.append(adapterRows)
        } else {
            adapters = nil
        }
        rowLayouts = rows
    }

    deinit { adapters?.deallocate() }

    /// The model a run of `settings` holds: the parameters, plus LoRA adapters for fedlora,
    /// initialised from the seed as peft does (B = 0, so the merged model starts as the base).
    public static func forRun(_ settings: FederationSettings, parameters: ParameterBuffer) -> FederatedModel {
        guard settings.algorithm == .fedlora else { return FederatedModel(parameters: parameters) }
        let layout = LoRALayout(model: settings.model, lora: settings.lora)
        let model = FederatedModel(parameters: parameters,
                                   adapterRows: RowLayout(segments: layout.tensors.map { ($0.count, $0.shape.last ?? 1) }))
        let initial = LoRAAdapters.initialized(layout: layout, seed: settings.seed)
        _ = model.adapters!.update(fromContentsOf: initial.storage)
        return model
    }

    /// The model to evaluate, export or checkpoint: the parameters, with the adapters merged
    /// into `scratch` when there are any.
    public func merged(settings: FederationSettings, scratch: ParameterBuffer) -> ParameterBuffer {
        guard let adapters else { return parameters }
        LoRAMerge.merge(base: parameters, adapters: UnsafeBufferPointer(adapters),
                        layout: LoRALayout(model: settings.model, lora: settings.lora), into: scratch)
        return scratch
    }

    /// A zero-filled model of the same shape: a client rank's view before its first download.
    public func emptyCopy() -> FederatedModel {
        FederatedModel(parameters: ParameterBuffer(layout: parameters.layout), adapterRows: adapters == nil ? nil : rowLayouts.last)
    }

    public var blockCount: Int { parameters.layout.blockCount }
    public var unitCount: Int { rowLayouts.count }
    /// The unit holding the adapters, when there is one.
    public var adapterUnit: Int? { adapters == nil ? nil : blockCount }

    /// Unit `index`'s values.
    public func unit(_ index: Int) -> UnsafeMutableBufferPointer<Float> {
        if index == blockCount, let adapters { return adapters }
        return parameters.block(index)
    }

    /// How unit `index` splits into tensors and rows, for the codecs.
    public func rows(_ index: Int) -> RowLayout { rowLayouts[index] }

    /// Values in unit `index`.
    public func count(_ index: Int) -> Int { rowLayouts[index].count }
}
