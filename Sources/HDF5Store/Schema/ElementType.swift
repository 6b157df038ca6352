/// How a dataset's numbers are stored in the file.
enum ElementType {
    case int32, int64, float32, float64
}
