import CHDF5
import CKernels

extension HDF5Container {
    /// Like `createDataset`, but chunked (rows of at most about 64 MB) with HDF5's Fletcher32 filter,
    /// so that every read of a chunk checks it: a byte changed on disk makes the read fail instead of
    /// returning a wrong number. Scalars (which cannot be chunked) are written plainly.
    @discardableResult
    public func createChecksummedDataset<T: HDF5Scalar>(_ name: String, shape: [Int],
                                                        values: UnsafeBufferPointer<T>) throws -> HDF5Dataset {
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else { return try createDataset(name, shape: shape, values: values) }
        HDF5Library.quiet()
        let space = try HDF5Space.create(shape: shape, file: file)
        defer { H5Sclose(space) }
        let properties = H5Pcreate(chdf5_p_dataset_create())
        guard properties >= 0 else { throw fail("creating dataset properties for \(childPath(name))") }
        defer { H5Pclose(properties) }
        let rowBytes = shape.dropFirst().reduce(MemoryLayout<T>.size, *)
        let rows = max(1, min(shape[0], (64 << 20) / max(rowBytes, 1)))
        let chunk = [hsize_t(rows)] + shape.dropFirst().map { hsize_t($0) }
        guard H5Pset_chunk(properties, Int32(chunk.count), chunk) >= 0, H5Pset_fletcher32(properties) >= 0 else {
            throw fail("setting the checksum of \(childPath(name))")
        }
        let handle = H5Dcreate2(id, name, T.hdf5FileType, space, hid_t(H5P_DEFAULT), properties, hid_t(H5P_DEFAULT))
        guard handle >= 0 else { throw fail("creating dataset \(childPath(name))") }
        let dataset = HDF5Dataset(id: handle, file: file, path: childPath(name), owner: fileObject)
        guard H5Dwrite(handle, T.hdf5MemoryType, H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), values.baseAddress) >= 0 else {
            throw fail("writing dataset \(childPath(name))")
        }
        return dataset
    }

    @discardableResult
    public func createChecksummedDataset<T: HDF5Scalar>(_ name: String, shape: [Int], values: [T]) throws -> HDF5Dataset {
        try values.withUnsafeBufferPointer { try createChecksummedDataset(name, shape: shape, values: $0) }
    }
}

extension HDF5Dataset {
    /// Reads every element (in the file's own type), which makes HDF5 check each chunk's Fletcher32
    /// checksum; throws naming the dataset when a read fails.
    public func readAllToVerify() throws {
        HDF5Library.quiet()
        let type = H5Dget_type(id)
        guard type >= 0 else { throw fail("reading the type of \(path)", .corrupt) }
        defer { H5Tclose(type) }
        let count = try shape().reduce(1, *)
        let size = H5Tget_size(type)
        guard count > 0, size > 0 else { return }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count * size, alignment: 16)
        defer { buffer.deallocate() }
        guard H5Dread(id, type, H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), buffer) >= 0 else {
            throw fail("verifying dataset \(path) (its Fletcher32 checksum)", .corrupt)
        }
    }
}

/// The checksum each checkpoint tensor carries as an attribute: fedcybgd's 64-bit hash of its
/// float32 values (`fk_checksum64`), as 16 hex digits. Contiguous tensors keep the checkpoint write
/// at disk speed, which HDF5's Fletcher32 filter (chunked, scalar) would halve.
public enum TensorChecksum {
    public static let attribute = "checksum64"
    public static let description = "each tensor's checksum64 attribute: a 64-bit hash (xxHash64-style rounds over eight lanes, fedcybgd's fk_checksum64) of its little-endian float32 bytes, as 16 hex digits; checked on every load"

    /// The checksum of `values`, as 16 hex digits.
    public static func of(_ values: UnsafeBufferPointer<Float>) -> String {
        let value = fk_checksum64(values.baseAddress, values.count * MemoryLayout<Float>.size)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Throws naming the dataset when `dataset` carries a checksum its values do not match.
    public static func verify(_ dataset: HDF5Dataset) throws {
        guard try dataset.hasAttribute(attribute) else { return try dataset.readAllToVerify() }
        let values = try dataset.read(as: Float.self)
        try values.withUnsafeBufferPointer { try check(dataset, holding: $0) }
    }

    /// Throws naming the dataset when `values`, just read from it, do not match its stored
    /// checksum; datasets without one (older checkpoints) pass.
    public static func check(_ dataset: HDF5Dataset, holding values: UnsafeBufferPointer<Float>) throws {
        guard try dataset.hasAttribute(attribute) else { return }
        let stored = try dataset.stringAttribute(attribute), actual = of(values)
        guard stored == actual else {
            throw HDF5Error(.corrupt, file: dataset.file, "dataset \(dataset.path) does not match its checksum (stored \(stored), read \(actual)): the checkpoint was changed on disk; use an earlier checkpoint")
        }
    }
}
