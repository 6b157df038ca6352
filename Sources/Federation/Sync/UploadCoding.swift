/// The body of an upload: the trained units, as the job's `upload.codec` says.
///
/// The trained units always form one contiguous region of the model (one block, every block, or
/// the adapters), so an fp32 upload is sent straight from the trained buffer with no copy. The
/// lossy codecs encode the *change* from the values the client started from, which are the
/// server's exact global values, so the server adds the decoded change back onto its own copy.
public enum UploadCoding {
    /// The contiguous values of `units` in `model`: one unit, or consecutive model blocks.
    public static func region(_ units: [Int], of model: FederatedModel) -> UnsafeMutableBufferPointer<Float> {
        precondition(!units.isEmpty, "a round trains at least one unit")
        if units.count == 1 { return model.unit(units[0]) }
        let first = model.unit(units[0]), last = model.unit(units[units.count - 1])
        let count = last.baseAddress! + last.count - first.baseAddress!
        precondition(count == units.reduce(0) { $0 + model.count($1) }, "trained units must be contiguous")
        return UnsafeMutableBufferPointer(start: first.baseAddress, count: count)
    }

    /// The tensor-and-row layout of the trained region, for per-row codecs.
    public static func rows(_ units: [Int], of model: FederatedModel) -> RowLayout {
        RowLayout(segments: units.flatMap { model.rows($0).segments.map { ($0.count, $0.rowLength) } })
    }

    /// Exact body size the server expects.
    public static func size(_ units: [Int], of model: FederatedModel, encoding: BlockEncoding) -> Int {
        encoding.codec.encodedSize(rows(units, of: model))
    }

    /// A client's body: the trained values, or their change from `start` for a lossy codec.
    public static func encode(trained: UnsafeBufferPointer<Float>, start: [Float], rows: RowLayout,
                              encoding: BlockEncoding) -> [UInt8] {
        if encoding == .fp32 { return Array(UnsafeRawBufferPointer(trained)) }
        var change = [Float](repeating: 0, count: trained.count)
        for i in 0..<trained.count { change[i] = trained[i] - start[i] }
        return change.withUnsafeBufferPointer { encoding.codec.encode(values: $0, rows: rows) }
    }

    /// The server's reading of a body: the values the client arrived at, checked to be finite.
    /// Throws `UploadRejection` for a body of the wrong size or with non-finite values.
    static func decode(_ body: [UInt8], current: UnsafeBufferPointer<Float>, rows: RowLayout,
                       encoding: BlockEncoding) throws -> [Float] {
        let expected = encoding.codec.encodedSize(rows)
        guard body.count == expected else { throw UploadRejection.wrongSize(expected: expected, received: body.count) }
        var values = [Float](repeating: 0, count: rows.count)
        do {
            try values.withUnsafeMutableBufferPointer { try encoding.codec.decode(body, into: $0, rows: rows) }
        } catch {
            throw UploadRejection.undecodable("\(error)")
        }
        if encoding != .fp32 {
            for i in 0..<values.count { values[i] += current[i] }
        }
        if let bad = values.withUnsafeBufferPointer(firstNonFinite) { throw UploadRejection.notFinite(index: bad) }
        return values
    }

    /// The index of the first infinite or NaN value, if any. A branch-free pass over the
    /// exponent bits (all ones: not finite) says whether there is one; it vectorizes, where
    /// `firstIndex(where:)` goes value by value.
    static func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
        let exponent: UInt32 = 0x7f80_0000
        var found: UInt32 = 0
        for value in values { found |= value.bitPattern & exponent == exponent ? 1 : 0 }
        return found == 0 ? nil : values.firstIndex { !$0.isFinite }
    }
}
