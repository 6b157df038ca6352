import CHDF5

/// Element types that map to HDF5 types. Files always get the little-endian standard type.
public protocol HDF5Scalar {
    static var hdf5MemoryType: hid_t { get }
    static var hdf5FileType: hid_t { get }
}

extension Float: HDF5Scalar {
    public static var hdf5MemoryType: hid_t { chdf5_native_float() }
    public static var hdf5FileType: hid_t { chdf5_ieee_f32le() }
}

extension Double: HDF5Scalar {
    public static var hdf5MemoryType: hid_t { chdf5_native_double() }
    public static var hdf5FileType: hid_t { chdf5_ieee_f64le() }
}

extension Int32: HDF5Scalar {
    public static var hdf5MemoryType: hid_t { chdf5_native_int32() }
    public static var hdf5FileType: hid_t { chdf5_std_i32le() }
}

extension Int64: HDF5Scalar {
    public static var hdf5MemoryType: hid_t { chdf5_native_int64() }
    public static var hdf5FileType: hid_t { chdf5_std_i64le() }
}

/// `Int` is stored as int64 (this code assumes a 64-bit platform).
extension Int: HDF5Scalar {
    public static var hdf5MemoryType: hid_t { chdf5_native_int64() }
    public static var hdf5FileType: hid_t { chdf5_std_i64le() }
}

extension UInt8: HDF5Scalar {
    public static var hdf5MemoryType: hid_t { chdf5_native_uint8() }
    public static var hdf5FileType: hid_t { chdf5_std_u8le() }
}
