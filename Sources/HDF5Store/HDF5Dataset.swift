import CHDF5
import Foundation

/// A dataset of numbers.
public final class HDF5Dataset: HDF5Object {
    /// The current dimensions (`[]` for a scalar).
    public func shape() throws -> [Int] {
        HDF5Library.quiet()
        let space = H5Dget_space(id)
        guard space >= 0 else { throw fail("reading the shape of \(path)", .corrupt) }
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw fail("reading the shape of \(path)", .corrupt) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        return dims.map { Int($0) }
    }

    /// Whether the stored elements are floating point (as opposed to integers, strings...).
    public func isFloatingPoint() throws -> Bool {
        let type = H5Dget_type(id)
        guard type >= 0 else { throw fail("reading the type of \(path)", .corrupt) }
        defer { H5Tclose(type) }
        return H5Tget_class(type) == H5T_FLOAT
    }

    /// Whether the stored elements are integers.
    public func isInteger() throws -> Bool {
        let type = H5Dget_type(id)
        guard type >= 0 else { throw fail("reading the type of \(path)", .corrupt) }
        defer { H5Tclose(type) }
        return H5Tget_class(type) == H5T_INTEGER
    }

    /// Reads the whole dataset into `buffer`, which must hold exactly its number of elements.
    public func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>) throws {
        HDF5Library.quiet()
        let count = try shape().reduce(1, *)
        guard buffer.count == count else {
            throw HDF5Error(.mismatch, file: file, "dataset \(path) holds \(count) values, expected \(buffer.count)")
        }
        guard count > 0 else { return }
        guard H5Dread(id, T.hdf5MemoryType, H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), buffer.baseAddress) >= 0 else {
            throw fail("reading dataset \(path)", .corrupt)
        }
    }

    /// Reads the whole dataset, row-major, converting to `T`.
    public func read<T: HDF5Scalar>(as type: T.Type = T.self) throws -> [T] {
        let count = try shape().reduce(1, *)
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(into: buffer)
            initialized = count
        }
    }

    /// Reads a scalar (or one-element) dataset.
    public func readScalar<T: HDF5Scalar>(as type: T.Type = T.self) throws -> T {
        let values = try read(as: T.self)
        guard values.count == 1 else {
            throw HDF5Error(.mismatch, file: file, "dataset \(path) holds \(values.count) values, expected one")
        }
        return values[0]
    }

    /// Appends rows to a dataset created by `createExtendibleDataset`: `values` holds whole
    /// rows, row-major.
    public func append<T: HDF5Scalar>(_ values: [T]) throws {
        HDF5Library.quiet()
        let current = try shape()
        guard let rows = current.first else { throw HDF5Error(.failed, file: file, "cannot append to scalar dataset \(path)") }
        let rowSize = current.dropFirst().reduce(1, *)
        guard rowSize > 0 ? values.count % rowSize == 0 : values.isEmpty else {
            throw HDF5Error(.failed, file: file, "appending \(values.count) values to \(path), whose rows hold \(rowSize)")
        }
        let newRows = rowSize > 0 ? values.count / rowSize : 0
        guard newRows > 0 else { return }
        var extent = current.map { hsize_t($0) }
        extent[0] = hsize_t(rows + newRows)
        guard H5Dset_extent(id, extent) >= 0 else { throw fail("extending \(path)") }
        let space = H5Dget_space(id)
        guard space >= 0 else { throw fail("reading the shape of \(path)") }
        defer { H5Sclose(space) }
        var start = [hsize_t](repeating: 0, count: current.count)
        start[0] = hsize_t(rows)
        var count = current.map { hsize_t($0) }
        count[0] = hsize_t(newRows)
        guard H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nil, count, nil) >= 0 else {
            throw fail("selecting new rows of \(path)")
        }
        let memory = H5Screate_simple(Int32(count.count), count, nil)
        guard memory >= 0 else { throw fail("creating a memory space for \(path)") }
        defer { H5Sclose(memory) }
        let status = values.withUnsafeBytes { H5Dwrite(id, T.hdf5MemoryType, memory, space, hid_t(H5P_DEFAULT), $0.baseAddress) }
        guard status >= 0 else { throw fail("writing rows to \(path)") }
    }

    /// Sets the number of rows of an extendible dataset (cutting it back drops the rows past `rows`).
    public func resize(rows: Int) throws {
        HDF5Library.quiet()
        var extent = try shape().map { hsize_t($0) }
        guard !extent.isEmpty else { throw HDF5Error(.failed, file: file, "cannot resize scalar dataset \(path)") }
        extent[0] = hsize_t(rows)
        guard H5Dset_extent(id, extent) >= 0 else { throw fail("resizing \(path) to \(rows) rows") }
    }
}

enum HDF5Space {
    static func create(shape: [Int], file: String) throws -> hid_t {
        let space: hid_t
        if shape.isEmpty {
            space = H5Screate(H5S_SCALAR)
        } else {
            let dims = shape.map { hsize_t($0) }
            space = H5Screate_simple(Int32(dims.count), dims, nil)
        }
        guard space >= 0 else { throw HDF5Library.error(file: file, "creating a dataspace of shape \(HDF5Library.shapeText(shape))") }
        return space
    }
}

enum HDF5String {
    /// A variable-length, UTF-8, null-terminated string type; the caller closes it.
    static func variableUTF8Type(file: String) throws -> hid_t {
        let type = H5Tcopy(chdf5_c_s1())
        guard type >= 0,
              H5Tset_size(type, chdf5_variable()) >= 0,
              H5Tset_cset(type, H5T_CSET_UTF8) >= 0,
              H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0 else {
            throw HDF5Library.error(file: file, "creating a UTF-8 string type")
        }
        return type
    }
}
