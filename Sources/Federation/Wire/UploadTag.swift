/// MPI tags for a client's upload: the header and the body travel as two messages, so the
/// body can be sent straight from the parameter buffer with no copy.
enum UploadTag {
    static func header(client: Int) -> Int { 2 * client }
    static func body(client: Int) -> Int { 2 * client + 1 }
}
