/// A value compared bit for bit, so that a derived `==` treats two NaN losses (a round that did
/// not evaluate, say) as equal and the records and states that hold them need no hand-written `==`.
@propertyWrapper
public struct BitExact<Value: BitComparable>: Equatable, Sendable {
    public var wrappedValue: Value

    public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }

    public static func == (a: Self, b: Self) -> Bool { a.wrappedValue.hasSameBits(as: b.wrappedValue) }
}
