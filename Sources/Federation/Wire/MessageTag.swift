/// The MPI tags of the point-to-point messages, each kind in its own range so that no receive
/// can match another kind's message: the set-up agreement on 0, client c's upload on 2c + 1 and
/// 2c + 2 (`UploadTag`), the rank reports on 2 × clients + 1. Broadcasts travel apart from them all.
public enum MessageTag {
    /// Each rank's set-up status (the CLI's `SetupAgreement`). It is sent before the number of
    /// clients is known, so it has the one tag that does not depend on it.
    public static let setupAgreement = 0

    /// A client rank's `RankReport` after its uploads: the first tag above every upload's.
    public static func rankReport(clientCount: Int) -> Int { UploadTag.body(client: clientCount - 1) + 1 }
}

/// The tags of a client's upload: the header and the body travel as two messages, so the body
/// can be sent straight from the parameter buffer with no copy.
public enum UploadTag {
    /// The header's tag, above the set-up agreement's.
    public static func header(client: Int) -> Int { 2 * client + 1 }
    /// The body's tag.
    public static func body(client: Int) -> Int { 2 * client + 2 }
}
