import GPT

/// What a federated run holds, sends and trains, as a list of *units* (`ModelUnits`): the model's
/// blocks (0 = embeddings, 1...L = layers, L + 1 = final norm), the embeddings possibly cut into
/// shards of vocabulary rows, and for `fedlora` one more unit with every LoRA adapter. Each unit
/// is one contiguous Float slice, so it travels with no packing.
public final class FederatedModel {
    public let parameters: ParameterBuffer
    /// The LoRA adapters (fedlora only), owned here.
    public let adapters: UnsafeMutableBufferPointer<Float>?
    /// How the model is cut into units.
    public let units: ModelUnits
    private let rowLayouts: [RowLayout]

    /// `adapters` gives the adapter vector's layout when the run trains LoRA adapters;
    /// `embeddingShards` cuts the embeddings into that many units.
    public init(parameters: ParameterBuffer, adapterRows: RowLayout? = nil, embeddingShards: Int = 1) {
        self.parameters = parameters
        units = ModelUnits(layout: parameters.layout, embeddingShards: embeddingShards, adapters: adapterRows != nil)
        var rows = (0..<units.parameterUnitCount).map { [units] in units.rows($0, of: parameters.layout) }
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
        guard settings.algorithm == .fedlora else {
            return FederatedModel(parameters: parameters, embeddingShards: settings.embeddingShards)
        }
        let layout = LoRALayout(model: settings.model, lora: settings.lora)
        let model = FederatedModel(parameters: parameters,
                                   adapterRows: RowLayout(segments: layout.tensors.map { ($0.count, $0.shape.last ?? 1) }),
                                   embeddingShards: settings.embeddingShards)
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
        FederatedModel(parameters: ParameterBuffer(layout: parameters.layout), adapterRows: adapters == nil ? nil : rowLayouts.last,
                       embeddingShards: units.embeddingShards)
    }

    public var blockCount: Int { parameters.layout.blockCount }
    public var unitCount: Int { rowLayouts.count }
    /// The unit holding the adapters, when there is one.
    public var adapterUnit: Int? { units.adapterUnit }

    /// Unit `index`'s values.
    public func unit(_ index: Int) -> UnsafeMutableBufferPointer<Float> {
        if index == units.adapterUnit, let adapters { return adapters }
        let range = units.ranges[index]
        return UnsafeMutableBufferPointer(rebasing: parameters.storage[range])
    }

    /// How unit `index` splits into tensors and rows, for the codecs.
    public func rows(_ index: Int) -> RowLayout { rowLayouts[index] }

    /// Values in unit `index`.
    public func count(_ index: Int) -> Int { rowLayouts[index].count }
}
