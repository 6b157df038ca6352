import CHDF5
import Foundation

// Thin typed wrappers over the HDF5 C API: files, groups, datasets and attributes, with
// failures turned into `HDF5Error`s that name the file and the operation.

/// An HDF5 failure, as one line naming the file and the problem.
public struct HDF5Error: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The file does not exist.
        case missing
        /// The file exists but is not HDF5.
        case notHDF5
        /// The file is HDF5 but cannot be opened or read: truncated or damaged.
        case corrupt
        /// A checkpoint whose `complete` attribute is absent or not 1.
        case incomplete
        /// The file is readable but does not hold what the caller expects (a tensor, a shape, a type).
        case mismatch
        /// Any other failed operation.
        case failed
    }

    public let kind: Kind
    /// The file the problem is in.
    public let file: String
    /// What went wrong, without the file name.
    public let message: String

    public init(_ kind: Kind, file: String, _ message: String) {
        self.kind = kind
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// Library-wide set-up and error-stack helpers.
enum HDF5Library {
    /// Turns off HDF5's automatic printing of error stacks (per thread in this thread-safe
    /// build, so every entry point calls it; it is cheap).
    static func quiet() {
        _ = noCloseAtExit
        H5Eset_auto2(chdf5_e_default(), nil, nil)
    }

    /// Before the library starts: no clean-up at exit, where closing a file whose write failed
    /// (a full disk) crashes inside libhdf5. Every file is closed by the code that opened it.
    private static let noCloseAtExit: Void = { _ = H5dont_atexit() }()

    /// The innermost and outermost descriptions of the current thread's HDF5 error stack,
    /// e.g. "unable to open file: truncated file: eof = 800, ... stored_eof = 1400".
    static func currentErrorText() -> String {
        final class Collector { var lines: [String] = [] }
        let collector = Collector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        H5Ewalk2(chdf5_e_default(), H5E_WALK_DOWNWARD, { _, entry, data in
            guard let entry, let data else { return 0 }
            let collector = Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue()
            if let text = entry.pointee.desc {
                let line = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
                if !line.isEmpty { collector.lines.append(line) }
            }
            return 0
        }, context)
        H5Eclear2(chdf5_e_default())
        let lines = collector.lines
        guard let first = lines.first else { return "" }
        guard lines.count > 1, let last = lines.last, last != first else { return first }
        return "\(first): \(last)"
    }

    /// Builds an error for a failed call, with HDF5's own explanation when it has one.
    static func error(_ kind: HDF5Error.Kind = .failed, file: String, _ operation: String) -> HDF5Error {
        let detail = currentErrorText()
        return HDF5Error(kind, file: file, detail.isEmpty ? "\(operation) failed" : "\(operation) failed (\(detail))")
    }

    /// The text of a null-terminated C buffer.
    static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func shapeText(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }
}

/// Any HDF5 object with attributes: a file (its root group), a group or a dataset.
public class HDF5Object {
    /// The HDF5 identifier; closed when this object goes away.
    public let id: hid_t
    /// The file's path, for error messages.
    public let file: String
    /// The object's path inside the file, e.g. "/history/round".
    public let path: String
    /// Children keep their file open: with the strong close degree, closing the file closes them.
    let owner: HDF5File?

    init(id: hid_t, file: String, path: String, owner: HDF5File?) {
        self.id = id
        self.file = file
        self.path = path
        self.owner = owner
    }

    deinit {
        // A file (no owner) is closed by HDF5File.deinit; children close themselves, unless
        // closing their file already did, or tried: after a close that failed (a full disk)
        // their identifiers still look valid but closing them crashes inside libhdf5.
        if let owner, owner.isOpen, H5Iis_valid(id) > 0 { H5Oclose(id) }
    }

    var fileObject: HDF5File { owner ?? (self as! HDF5File) }

    func childPath(_ name: String) -> String {
        path == "/" ? "/" + name : path + "/" + name
    }

    func fail(_ operation: String, _ kind: HDF5Error.Kind = .failed) -> HDF5Error {
        HDF5Library.error(kind, file: file, operation)
    }

    // MARK: Attributes

    /// Whether an attribute called `name` exists.
    public func hasAttribute(_ name: String) throws -> Bool {
        HDF5Library.quiet()
        let found = H5Aexists(id, name)
        guard found >= 0 else { throw fail("checking attribute \(name) of \(path)") }
        return found > 0
    }

    /// Writes a variable-length UTF-8 string attribute (h5py reads it as `str`), replacing any
    /// attribute of that name.
    public func setAttribute(_ name: String, _ value: String) throws {
        HDF5Library.quiet()
        try removeAttribute(name)
        let type = try HDF5String.variableUTF8Type(file: file)
        defer { H5Tclose(type) }
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(id, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw fail("creating attribute \(name) of \(path)") }
        defer { H5Aclose(attribute) }
        let status = value.withCString { text -> herr_t in
            var pointer: UnsafePointer<CChar>? = text
            return H5Awrite(attribute, type, &pointer)
        }
        guard status >= 0 else { throw fail("writing attribute \(name) of \(path)") }
    }

    /// Writes a scalar numeric attribute, replacing any attribute of that name.
    public func setAttribute<T: HDF5Scalar>(_ name: String, _ value: T) throws {
        try setAttribute(name, values: [value], shape: [])
    }

    /// Writes a one-dimensional numeric attribute.
    public func setAttribute<T: HDF5Scalar>(_ name: String, _ values: [T]) throws {
        try setAttribute(name, values: values, shape: [values.count])
    }

    private func setAttribute<T: HDF5Scalar>(_ name: String, values: [T], shape: [Int]) throws {
        HDF5Library.quiet()
        try removeAttribute(name)
        let space = try HDF5Space.create(shape: shape, file: file)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(id, name, T.hdf5FileType, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw fail("creating attribute \(name) of \(path)") }
        defer { H5Aclose(attribute) }
        if values.isEmpty { return }
        let status = values.withUnsafeBytes { H5Awrite(attribute, T.hdf5MemoryType, $0.baseAddress) }
        guard status >= 0 else { throw fail("writing attribute \(name) of \(path)") }
    }

    /// Deletes the attribute `name` if it exists.
    public func removeAttribute(_ name: String) throws {
        if try hasAttribute(name) {
            guard H5Adelete(id, name) >= 0 else { throw fail("deleting attribute \(name) of \(path)") }
        }
    }

    /// Reads a string attribute, variable-length or fixed-length.
    public func stringAttribute(_ name: String) throws -> String {
        HDF5Library.quiet()
        let attribute = try openAttribute(name)
        defer { H5Aclose(attribute) }
        let stored = H5Aget_type(attribute)
        guard stored >= 0 else { throw fail("reading the type of attribute \(name) of \(path)") }
        defer { H5Tclose(stored) }
        guard H5Tget_class(stored) == H5T_STRING else {
            throw HDF5Error(.mismatch, file: file, "attribute \(name) of \(path) is not a string")
        }
        if H5Tis_variable_str(stored) > 0 {
            let type = try HDF5String.variableUTF8Type(file: file)
            defer { H5Tclose(type) }
            var pointer: UnsafeMutablePointer<CChar>?
            guard H5Aread(attribute, type, &pointer) >= 0 else { throw fail("reading attribute \(name) of \(path)") }
            defer { if let pointer { H5free_memory(pointer) } }
            return pointer.map { String(cString: $0) } ?? ""
        }
        let size = H5Tget_size(stored)
        var buffer = [UInt8](repeating: 0, count: size + 1)
        guard H5Aread(attribute, stored, &buffer) >= 0 else { throw fail("reading attribute \(name) of \(path)") }
        let end = buffer.firstIndex(of: 0) ?? size
        return String(decoding: buffer[..<end], as: UTF8.self)
    }

    /// Reads a scalar numeric attribute, converting to `T`.
    public func attribute<T: HDF5Scalar>(_ name: String, as type: T.Type = T.self) throws -> T {
        let values = try attributeValues(name, as: T.self)
        guard values.count == 1, let value = values.first else {
            throw HDF5Error(.mismatch, file: file, "attribute \(name) of \(path) holds \(values.count) values, not one")
        }
        return value
    }

    /// Reads all the values of a numeric attribute, converting to `T`.
    public func attributeValues<T: HDF5Scalar>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        HDF5Library.quiet()
        let attribute = try openAttribute(name)
        defer { H5Aclose(attribute) }
        let space = H5Aget_space(attribute)
        guard space >= 0 else { throw fail("reading the shape of attribute \(name) of \(path)") }
        defer { H5Sclose(space) }
        let count = Int(H5Sget_simple_extent_npoints(space))
        let stored = H5Aget_type(attribute)
        defer { if stored >= 0 { H5Tclose(stored) } }
        let storedClass = H5Tget_class(stored)
        guard storedClass == H5T_INTEGER || storedClass == H5T_FLOAT else {
            throw HDF5Error(.mismatch, file: file, "attribute \(name) of \(path) is not numeric")
        }
        guard count > 0 else { return [] }
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard H5Aread(attribute, T.hdf5MemoryType, buffer.baseAddress) >= 0 else {
                throw fail("reading attribute \(name) of \(path)")
            }
            initialized = count
        }
    }

    /// The names of this object's attributes, in creation or name order.
    public func attributeNames() throws -> [String] {
        HDF5Library.quiet()
        var info = H5O_info_t()
        guard H5Oget_info2(id, &info, UInt32(H5O_INFO_NUM_ATTRS)) >= 0 else { throw fail("listing attributes of \(path)") }
        var names: [String] = []
        for index in 0..<info.num_attrs {
            let length = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, hid_t(H5P_DEFAULT))
            guard length >= 0 else { throw fail("listing attributes of \(path)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, hid_t(H5P_DEFAULT))
            names.append(HDF5Library.string(buffer))
        }
        return names
    }

    private func openAttribute(_ name: String) throws -> hid_t {
        guard try hasAttribute(name) else {
            throw HDF5Error(.mismatch, file: file, "\(path) has no attribute \(name)")
        }
        let attribute = H5Aopen(id, name, hid_t(H5P_DEFAULT))
        guard attribute >= 0 else { throw fail("opening attribute \(name) of \(path)") }
        return attribute
    }
}

/// A file or a group: something that holds groups and datasets.
public class HDF5Container: HDF5Object {
    /// Whether a link called `name` (one level, no slashes) exists here.
    public func contains(_ name: String) throws -> Bool {
        HDF5Library.quiet()
        let found = H5Lexists(id, name, hid_t(H5P_DEFAULT))
        guard found >= 0 else { throw fail("looking up \(childPath(name))") }
        return found > 0
    }

    /// The names of the links in this group, in name order.
    public func memberNames() throws -> [String] {
        HDF5Library.quiet()
        var info = H5G_info_t()
        guard H5Gget_info(id, &info) >= 0 else { throw fail("listing \(path)") }
        var names: [String] = []
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, hid_t(H5P_DEFAULT))
            guard length >= 0 else { throw fail("listing \(path)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, hid_t(H5P_DEFAULT))
            names.append(HDF5Library.string(buffer))
        }
        return names
    }

    /// Deletes the link `name` if it exists (the space is not reclaimed).
    public func remove(_ name: String) throws {
        if try contains(name) {
            guard H5Ldelete(id, name, hid_t(H5P_DEFAULT)) >= 0 else { throw fail("deleting \(childPath(name))") }
        }
    }

    public func createGroup(_ name: String) throws -> HDF5Group {
        HDF5Library.quiet()
        let group = H5Gcreate2(id, name, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard group >= 0 else { throw fail("creating group \(childPath(name))") }
        let created = HDF5Group(id: group, file: file, path: childPath(name), owner: fileObject)
        // Every object of a run file says what it measures; a group holds no numbers of its own.
        try created.setAttribute("units", "n/a (group)")
        return created
    }

    public func openGroup(_ name: String) throws -> HDF5Group {
        HDF5Library.quiet()
        guard try contains(name) else { throw HDF5Error(.mismatch, file: file, "has no group \(childPath(name))") }
        let group = H5Gopen2(id, name, hid_t(H5P_DEFAULT))
        guard group >= 0 else { throw fail("opening group \(childPath(name))", .corrupt) }
        return HDF5Group(id: group, file: file, path: childPath(name), owner: fileObject)
    }

    public func openDataset(_ name: String) throws -> HDF5Dataset {
        HDF5Library.quiet()
        guard try contains(name) else { throw HDF5Error(.mismatch, file: file, "has no dataset \(childPath(name))") }
        let dataset = H5Dopen2(id, name, hid_t(H5P_DEFAULT))
        guard dataset >= 0 else { throw fail("opening dataset \(childPath(name))", .corrupt) }
        return HDF5Dataset(id: dataset, file: file, path: childPath(name), owner: fileObject)
    }

    /// Creates a fixed-size, contiguous dataset of `shape` (`[]` for a scalar) and writes
    /// `values` (row-major, `shape.reduce(1, *)` of them) into it.
    @discardableResult
    public func createDataset<T: HDF5Scalar>(_ name: String, shape: [Int], values: UnsafeBufferPointer<T>) throws -> HDF5Dataset {
        HDF5Library.quiet()
        let expected = shape.reduce(1, *)
        guard values.count == expected else {
            throw HDF5Error(.failed, file: file, "dataset \(childPath(name)) of shape \(HDF5Library.shapeText(shape)) needs \(expected) values, got \(values.count)")
        }
        let space = try HDF5Space.create(shape: shape, file: file)
        defer { H5Sclose(space) }
        let handle = H5Dcreate2(id, name, T.hdf5FileType, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        guard handle >= 0 else { throw fail("creating dataset \(childPath(name))") }
        let dataset = HDF5Dataset(id: handle, file: file, path: childPath(name), owner: fileObject)
        if expected > 0 {
            guard H5Dwrite(handle, T.hdf5MemoryType, H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), values.baseAddress) >= 0 else {
                throw fail("writing dataset \(childPath(name))")
            }
        }
        return dataset
    }

    @discardableResult
    public func createDataset<T: HDF5Scalar>(_ name: String, shape: [Int], values: [T]) throws -> HDF5Dataset {
        try values.withUnsafeBufferPointer { try createDataset(name, shape: shape, values: $0) }
    }

    /// Creates a scalar dataset holding one value.
    @discardableResult
    public func createScalarDataset<T: HDF5Scalar>(_ name: String, _ value: T) throws -> HDF5Dataset {
        try createDataset(name, shape: [], values: [value])
    }

    /// Creates an empty dataset of rows shaped `rowShape` that grows along its first
    /// dimension without limit: chunked by `chunkRows` rows, shuffled and gzip-compressed at
    /// `gzipLevel` (0 for none).
    @discardableResult
    public func createExtendibleDataset<T: HDF5Scalar>(_ name: String, of type: T.Type, rowShape: [Int] = [],
                                                       chunkRows: Int = 1024, gzipLevel: Int = 4) throws -> HDF5Dataset {
        HDF5Library.quiet()
        let dims = [hsize_t(0)] + rowShape.map { hsize_t($0) }
        let maxDims = [chdf5_unlimited()] + rowShape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), dims, maxDims)
        guard space >= 0 else { throw fail("creating the dataspace of \(childPath(name))") }
        defer { H5Sclose(space) }
        let properties = H5Pcreate(chdf5_p_dataset_create())
        guard properties >= 0 else { throw fail("creating dataset properties for \(childPath(name))") }
        defer { H5Pclose(properties) }
        let chunk = [hsize_t(max(1, chunkRows))] + rowShape.map { hsize_t(max(1, $0)) }
        guard H5Pset_chunk(properties, Int32(chunk.count), chunk) >= 0 else { throw fail("setting chunks of \(childPath(name))") }
        if gzipLevel > 0 {
            guard H5Pset_shuffle(properties) >= 0, H5Pset_deflate(properties, UInt32(gzipLevel)) >= 0 else {
                throw fail("setting compression of \(childPath(name))")
            }
        }
        let handle = H5Dcreate2(id, name, T.hdf5FileType, space, hid_t(H5P_DEFAULT), properties, hid_t(H5P_DEFAULT))
        guard handle >= 0 else { throw fail("creating dataset \(childPath(name))") }
        return HDF5Dataset(id: handle, file: file, path: childPath(name), owner: fileObject)
    }
}

/// An HDF5 file; its attributes are those of the root group.
public final class HDF5File: HDF5Container {
    /// Creates `path`, replacing any file there (`H5F_ACC_TRUNC`).
    public static func create(_ path: String) throws -> HDF5File {
        HDF5Library.quiet()
        if let problem = FileAccess.problem(creating: path) { throw problem }
        let access = try accessProperties(path: path)
        defer { H5Pclose(access) }
        let id = H5Fcreate(path, chdf5_acc_trunc(), hid_t(H5P_DEFAULT), access)
        guard id >= 0 else { throw HDF5Library.error(file: path, "creating the file") }
        return HDF5File(id: id, file: path, path: "/", owner: nil)
    }

    /// Opens an existing file, read-only unless `writable`. A missing file, a file that is not
    /// HDF5, and a truncated or damaged one each give their own error kind.
    ///
    /// `useFileLocking: false` opens without HDF5 1.10's advisory lock, as
    /// `HDF5_USE_FILE_LOCKING=FALSE` does; `nil` keeps the library default.
    public static func open(_ path: String, writable: Bool = false, useFileLocking: Bool? = nil) throws -> HDF5File {
        HDF5Library.quiet()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw HDF5Error(.missing, file: path, "no such file")
        }
        guard !isDirectory.boolValue else { throw HDF5Error(.notHDF5, file: path, "is a folder, not an HDF5 file") }
        if let problem = FileAccess.problem(opening: path, writable: writable) { throw problem }
        let signature = H5Fis_hdf5(path)
        if signature == 0 {
            throw HDF5Error(.notHDF5, file: path, "not an HDF5 file (no HDF5 signature)")
        } else if signature < 0 {
            throw HDF5Library.error(.notHDF5, file: path, "reading the file's signature")
        }
        let access = try accessProperties(path: path)
        defer { H5Pclose(access) }
        if let useFileLocking {
            H5Pset_file_locking(access, useFileLocking, true)
        }
        let id = H5Fopen(path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), access)
        guard id >= 0 else {
            let detail = HDF5Library.currentErrorText()
            if detail.contains("unable to lock") {
                throw HDF5Error(.failed, file: path, "is locked by another process (\(detail))")
            }
            throw HDF5Error(.corrupt, file: path, "truncated or damaged HDF5 file" + (detail.isEmpty ? "" : " (\(detail))"))
        }
        return HDF5File(id: id, file: path, path: "/", owner: nil)
    }

    /// Objects still open in a file are closed with it (`H5F_CLOSE_STRONG`), so `close()`
    /// really releases the file and its lock.
    private static func accessProperties(path: String) throws -> hid_t {
        let access = H5Pcreate(chdf5_p_file_access())
        guard access >= 0, H5Pset_fclose_degree(access, H5F_CLOSE_STRONG) >= 0 else {
            throw HDF5Library.error(file: path, "creating file-access properties")
        }
        return access
    }

    private(set) var isOpen = true

    deinit {
        if isOpen && H5Iis_valid(id) > 0 { H5Fclose(id) }
    }

    /// Writes everything out and closes the file, and every object opened from it.
    public func close() throws {
        guard isOpen else { return }
        isOpen = false
        HDF5Library.quiet()
        guard H5Fclose(id) >= 0 else { throw fail("closing the file") }
    }

    /// Writes buffered data to the file (not an fsync).
    public func flush() throws {
        HDF5Library.quiet()
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw fail("flushing the file") }
    }
}

public final class HDF5Group: HDF5Container {}
