/// What a round trains and what its clients need, by algorithm: the glue between the schedule
/// and the units of a `FederatedModel`.
extension FederationSettings {
    /// The `block` of round `round`'s header: the scheduled block, or every block.
    public func headerBlock(round: Int, schedule: CycleSchedule) -> Int {
        algorithm.trainsOneBlock ? schedule.block(ofRound: round) : RoundHeader.everyBlock
    }

    /// The units a round with header block `block` trains, ascending and contiguous.
    public func trainedUnits(block: Int, model: FederatedModel) -> [Int] {
        if let adapters = model.adapterUnit { return [adapters] }
        return block == RoundHeader.everyBlock ? Array(0..<model.blockCount) : [block]
    }

    /// The transformer layers the clients skip this round (FedCyBGD's layer dropping).
    public func droppedLayers(block: Int) -> Set<Int> {
        guard algorithm.trainsOneBlock, block != RoundHeader.everyBlock, layerDrop.fraction > 0 else { return [] }
        return layerDrop.droppedLayers(activeBlock: block, layers: model.layers)
    }

    /// The units the clients run this round: all but the blocks of dropped layers.
    public func neededUnits(block: Int, model: FederatedModel) -> [Int] {
        let dropped = Set(droppedLayers(block: block).map { $0 + 1 })
        return (0..<model.unitCount).filter { !dropped.contains($0) }
    }
}
