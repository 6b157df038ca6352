import Foundation

/// A file holding a tokenised corpus, so a run (and its resumes) encodes the corpus once.
///
/// Layout, little-endian: the 16-byte magic `FEDCYBGD-TOKENS1`, the UInt64 key, the UInt64
/// document count, then per document its UInt64 name length, the UTF-8 name and its UInt64
/// token count, then every document's Int32 ids in order. The key hashes the tokenizer's
/// fingerprint and every document's name and bytes, so a changed corpus or tokenizer misses.
public enum TokenCache {
    static let magic = Array("FEDCYBGD-TOKENS1".utf8)

    /// FNV-1a, 64-bit, over byte sequences; a cache key needs no cryptographic strength.
    public struct FNVHash {
        public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

        public init() {}

        public mutating func combine(_ bytes: [UInt8]) {
            var h = value
            for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            // The length too, so ("ab", "c") and ("a", "bc") differ.
            for shift in stride(from: 0, to: 64, by: 8) { h = (h ^ UInt64(truncatingIfNeeded: bytes.count >> shift) & 0xFF) &* 0x100_0000_01b3 }
            value = h
        }

        static func hash(_ first: [UInt8], then second: [UInt8]) -> UInt64 {
            var hasher = FNVHash()
            hasher.combine(first)
            hasher.combine(second)
            return hasher.value
        }
    }

    /// The key of `files` tokenised by a tokenizer with `fingerprint`.
    public static func key(fingerprint: UInt64, files: [(name: String, bytes: [UInt8])]) -> UInt64 {
        var hasher = FNVHash()
        hasher.combine(withUnsafeBytes(of: fingerprint.littleEndian) { Array($0) })
        for file in files {
            hasher.combine(Array(file.name.utf8))
            hasher.combine(file.bytes)
        }
        return hasher.value
    }

    /// The documents stored at `path` under `key`, or nil when the file is missing, damaged or
    /// made for another key (any of which just means: tokenise again).
    public static func read(path: String, key: UInt64) -> [TextDocument]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var reader = Reader(bytes: [UInt8](data))
        guard reader.take(magic.count) == magic, reader.uint64() == key, let count = reader.uint64(), count < 1 << 32 else { return nil }
        var heads: [(String, Int)] = []
        for _ in 0..<count {
            guard let length = reader.uint64(), let name = reader.take(Int(length)), let tokens = reader.uint64() else { return nil }
            heads.append((String(decoding: name, as: UTF8.self), Int(tokens)))
        }
        var documents: [TextDocument] = []
        for (name, tokens) in heads {
            guard let ids = reader.int32s(tokens) else { return nil }
            documents.append(TextDocument(name: name, tokens: ids))
        }
        return reader.atEnd ? documents : nil
    }

    /// Writes `documents` under `key` to `path`, atomically (a temporary file, then a rename).
    public static func write(path: String, key: UInt64, documents: [TextDocument]) throws {
        var out = Data(magic)
        func append(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        append(key)
        append(UInt64(documents.count))
        for document in documents {
            append(UInt64(document.name.utf8.count))
            out.append(contentsOf: Array(document.name.utf8))
            append(UInt64(document.tokens.count))
        }
        for document in documents {
            document.tokens.map(\.littleEndian).withUnsafeBytes { out.append(contentsOf: $0) }
        }
        try out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset == bytes.count }

        mutating func take(_ count: Int) -> [UInt8]? {
            guard count >= 0, bytes.count - offset >= count else { return nil }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func uint64() -> UInt64? {
            take(8).map { $0.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        }

        mutating func int32s(_ count: Int) -> [Int32]? {
            guard count >= 0, count <= (bytes.count - offset) / 4 else { return nil }
            var ids = [Int32](repeating: 0, count: count)
            ids.withUnsafeMutableBytes { $0.copyBytes(from: bytes[offset..<(offset + 4 * count)]) }
            offset += 4 * count
            return ids.map { Int32(littleEndian: $0) }
        }
    }
}
