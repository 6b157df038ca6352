import Foundation

/// A safetensors file: an 8-byte little-endian header length, a JSON header mapping each tensor name to
/// its dtype, shape and byte range, then the raw little-endian data. Reads float tensors stored as
/// F32, F16 or BF16 (as fp32, exactly) and integer tensors stored as I32 or I64.
public struct SafeTensorsFile: Sendable {
    public struct Entry: Hashable, Sendable {
        public let name: String
        public let dtype: String
        public let shape: [Int]
        /// Byte range inside the data section.
        public let byteRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Entries by name.
    public let entries: [String: Entry]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    private let bytes: Data
    private let dataStart: Int

    /// Tensor names in file order of their data.
    public var names: [String] { entries.values.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }.map(\.name) }

    static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
        "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    /// The dtypes that `floats` and `copyFloats` read.
    public static let floatDTypes = ["F32", "F16", "BF16"]

    /// Reads and checks the file at `path`. The file is mapped rather than copied: a checkpoint
    /// can be as large as the memory, and its values are read once, into the parameter buffer.
    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw GPTError.io("cannot read \(path)")
        }
        try self.init(data: data, source: path)
    }

    /// Parses and checks a whole safetensors file held in memory.
    public init(data: Data, source: String = "safetensors data") throws {
        // Re-based so indices start at 0; a whole file (mapped or read) already does, and is not copied.
        let bytes = data.startIndex == 0 ? data : Data(data)
        guard bytes.count >= 8 else {
            throw GPTError.safetensors("\(source): \(bytes.count) bytes is too short for the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw GPTError.safetensors("\(source): header length \(headerLength) exceeds the file's \(bytes.count - 8) remaining bytes (truncated or not safetensors)")
        }
        let start = 8 + Int(headerLength)
        let header: JSONValue
        do { header = try JSONValue.parse(bytes.subdata(in: 8..<start)) } catch {
            throw GPTError.safetensors("\(source): the header is not valid JSON")
        }
        guard let object = header.objectValue else {
            throw GPTError.safetensors("\(source): the header is not a JSON object")
        }
        var entries: [String: Entry] = [:], metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                for (k, v) in value.objectValue ?? [:] { metadata[k] = v.stringValue ?? "" }
                continue
            }
            entries[name] = try Self.entry(name, value, dataSize: bytes.count - start, source: source)
        }
        self.entries = entries; self.metadata = metadata; self.bytes = bytes; dataStart = start
    }

    private static func entry(_ name: String, _ value: JSONValue, dataSize: Int, source: String) throws -> Entry {
        guard let o = value.objectValue, let dtype = o["dtype"]?.stringValue,
              let shapeValues = o["shape"]?.arrayValue, let offsets = o["data_offsets"]?.arrayValue,
              offsets.count == 2, let begin = offsets[0].intValue, let end = offsets[1].intValue else {
            throw GPTError.safetensors("\(source): tensor \(name) lacks a dtype, shape or data_offsets pair")
        }
        let shape = shapeValues.compactMap(\.intValue)
        guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw GPTError.safetensors("\(source): tensor \(name) has an invalid shape")
        }
        guard let size = elementSizes[dtype] else { throw SafeTensorsDTypeError(tensor: name, dtype: dtype, accepted: floatDTypes) }
        guard begin >= 0, begin <= end else {
            throw GPTError.safetensors("\(source): tensor \(name) has invalid data_offsets [\(begin), \(end)]")
        }
        guard end <= dataSize else {
            throw GPTError.safetensors("\(source): tensor \(name) ends at data byte \(end) but the file holds only \(dataSize) data bytes (truncated?)")
        }
        let expected = shape.reduce(1, *) * size
        guard end - begin == expected else {
            throw GPTError.safetensors("\(source): tensor \(name) has \(end - begin) bytes, but \(dtype) \(shape) needs \(expected)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    public func entry(_ name: String) throws -> Entry {
        guard let e = entries[name] else { throw GPTError.missingTensor(name) }
        return e
    }

    /// Copies a float tensor into `destination`, which must hold exactly its element count,
    /// widening F16 and BF16 values to fp32.
    public func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let e = try entry(name)
        guard Self.floatDTypes.contains(e.dtype) else {
            throw SafeTensorsDTypeError(tensor: name, dtype: e.dtype, accepted: Self.floatDTypes)
        }
        precondition(destination.count == e.elementCount, "destination size differs from tensor \(name)")
        withData(of: e) { source in
            switch e.dtype {
            case "F16": HalfPrecision.widenBinary16(source, into: destination)
            case "BF16": HalfPrecision.widenBFloat16(source, into: destination)
            default: UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
            }
        }
    }

    /// A float tensor's values as fp32, flattened row-major.
    public func floats(_ name: String) throws -> [Float] {
        let e = try entry(name)
        var out = [Float](repeating: 0, count: e.elementCount)
        try out.withUnsafeMutableBufferPointer { try copyFloats(name, into: $0) }
        return out
    }

    /// An I32 tensor's values, flattened row-major.
    public func int32s(_ name: String) throws -> [Int32] {
        try integers(name, dtype: "I32")
    }

    /// An I64 or I32 tensor's values, flattened row-major.
    public func int64s(_ name: String) throws -> [Int64] {
        if try entry(name).dtype == "I32" { return try int32s(name).map(Int64.init) }
        return try integers(name, dtype: "I64")
    }

    private func integers<T: FixedWidthInteger>(_ name: String, dtype: String) throws -> [T] {
        let e = try entry(name)
        guard e.dtype == dtype else { throw SafeTensorsDTypeError(tensor: name, dtype: e.dtype, accepted: [dtype]) }
        var out = [T](repeating: 0, count: e.elementCount)
        out.withUnsafeMutableBytes { destination in withData(of: e) { destination.copyMemory(from: $0) } }
        return out
    }

    /// Calls `body` with the raw bytes of one tensor.
    private func withData<R>(of e: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.byteRange.lowerBound)..<(dataStart + e.byteRange.upperBound)]))
        }
    }
}

/// A tensor stored in a dtype that cannot be read as asked: one line naming the tensor, its dtype,
/// the dtypes that can be read, and for floats how to convert the checkpoint.
public struct SafeTensorsDTypeError: Error, Equatable, CustomStringConvertible {
    public let tensor: String
    public let dtype: String
    /// The dtypes the read accepts.
    public let accepted: [String]

    public var description: String {
        let list = accepted.count > 1 ? accepted.dropLast().joined(separator: ", ") + " or " + accepted.last! : accepted.joined()
        guard accepted.contains("F32") else { return "tensor \(tensor) has dtype \(dtype); integer tensors must be \(list)" }
        return "tensor \(tensor) has dtype \(dtype); float tensors must be \(list) "
            + "(convert the checkpoint, e.g. with torch: model.to(torch.bfloat16).save_pretrained(folder))"
    }
}

/// Builds a safetensors file from F32 and I32 tensors, in the order they are added.
public struct SafeTensorsWriter {
    private var header: [(String, String)] = []
    private var payload = Data()
    public var metadata: [String: String] = ["format": "pt"]

    public init() {}

    public mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not match \(floats.count) values for \(name)")
        append(name, "F32", shape, UnsafeRawBufferPointer(floats))
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        floats.withUnsafeBufferPointer { add(name, shape: shape, floats: $0) }
    }

    public mutating func add(_ name: String, shape: [Int], int32s: [Int32]) {
        precondition(shape.reduce(1, *) == int32s.count, "shape \(shape) does not match \(int32s.count) values for \(name)")
        int32s.withUnsafeBytes { append(name, "I32", shape, $0) }
    }

    private mutating func append(_ name: String, _ dtype: String, _ shape: [Int], _ raw: UnsafeRawBufferPointer) {
        let begin = payload.count
        payload.append(contentsOf: raw)
        let shapeText = shape.map(String.init).joined(separator: ",")
        header.append((name, "{\"dtype\":\"\(dtype)\",\"shape\":[\(shapeText)],\"data_offsets\":[\(begin),\(payload.count)]}"))
    }

    /// The whole file: header padded with spaces to a multiple of 8 bytes, then the data.
    public func serialized() -> Data {
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }
            parts.append("\"__metadata__\":{\(m.joined(separator: ","))}")
        }
        parts += header.map { "\(jsonQuoted($0.0)):\($0.1)" }
        var json = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        out.append(payload)
        return out
    }

    /// Writes the file to `path` (via a temporary file and a rename).
    public func write(to path: String) throws {
        do { try serialized().write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw GPTError.io("cannot write \(path): \(error)")
        }
    }
}
