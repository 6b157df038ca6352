/// One client's upload as the server received it, checked before use.
public struct ReceivedUpload {
    public let header: UploadHeader
    public let values: [Float]
    public let bytes: Int
}
