/// An upload that arrived in full but failed a check: the reason, and the bytes that arrived.
struct RefusedUpload: Error {
    let reason: UploadRejection
    let bytes: Int
}
