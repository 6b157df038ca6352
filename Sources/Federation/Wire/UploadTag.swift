/// MPI tags for a client's upload: the header and the body travel as two messages, so the
/// body can be sent straight from the parameter buffer with no copy.
public enum UploadTag {
    /// The header's tag.
    public static func header(client: Int) -> Int { 2 * client }
    /// The body's tag.
    public static func body(client: Int) -> Int { 2 * client + 1 }
}
