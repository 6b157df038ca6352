/// What rank 0 tells every rank at the start of a round, ahead of the download.
public struct RoundHeader: Equatable, Sendable {
    /// 1-based; 0 with `finished` set tells the client ranks to stop.
    public var round: Int
    /// The block the round trains, or `RoundHeader.everyBlock` when it trains every parameter
    /// (fedavg, centralized) or the LoRA adapters (fedlora).
    public var block: Int
    public var clients: [Int]
    public var learningRate: Float
    public var finished: Bool

    static let magic: UInt32 = 0x4643_4244 // "FCBD"
    /// `block` of a round that trains more than one block.
    public static let everyBlock = -1

    public static func stop() -> RoundHeader {
        RoundHeader(round: 0, block: 0, clients: [], learningRate: 0, finished: true)
    }
}
