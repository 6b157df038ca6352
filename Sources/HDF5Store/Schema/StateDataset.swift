import Federation

/// One dataset of a checkpoint's `/state`, declared once: its name, units, description and
/// element type, and how its values and shape are taken from a `RunState` and put back.
struct StateDataset {
    let name: String
    let units: Units
    let description: String
    let element: ElementType
    /// Written only when it has values (fedlora's adapters); absent reads back as empty.
    let optional: Bool
    let read: @Sendable (RunState) -> (cells: Cells, shape: [Int])
    let write: @Sendable (inout RunState, Cells, [Int]) -> Void
}

extension StateDataset {
    /// A scalar integer.
    static func int(_ name: String, _ units: Units, _ description: String,
                    _ path: WritableKeyPath<RunState, Int> & Sendable) -> StateDataset {
        StateDataset(name: name, units: units, description: description, element: .int64, optional: false,
                     read: { (.ints([$0[keyPath: path]]), []) }, write: { state, cells, _ in state[keyPath: path] = cells.ints.first ?? 0 })
    }

    /// A scalar float32 loss.
    static func loss(_ name: String, _ description: String, _ path: WritableKeyPath<RunState, Float> & Sendable) -> StateDataset {
        StateDataset(name: name, units: .loss, description: description, element: .float32, optional: false,
                     read: { (.floats([$0[keyPath: path]]), []) }, write: { state, cells, _ in state[keyPath: path] = cells.floats.first ?? .nan })
    }

    /// A list of integers.
    static func ints(_ name: String, _ units: Units, _ description: String,
                     _ path: WritableKeyPath<RunState, [Int]> & Sendable) -> StateDataset {
        StateDataset(name: name, units: units, description: description, element: .int64, optional: false,
                     read: { (.ints($0[keyPath: path]), [$0[keyPath: path].count]) },
                     write: { state, cells, _ in state[keyPath: path] = cells.ints })
    }

    /// A [client, unit] matrix of integers.
    static func matrix(_ name: String, _ description: String,
                       _ path: WritableKeyPath<RunState, [[Int]]> & Sendable) -> StateDataset {
        StateDataset(name: name, units: .one, description: description, element: .int64, optional: false,
                     read: { state in
                         let rows = state[keyPath: path]
                         return (.ints(rows.flatMap { $0 }), [rows.count, rows.first?.count ?? 0])
                     },
                     write: { state, cells, shape in
                         let width = shape.count == 2 ? shape[1] : 0
                         let values = cells.ints
                         state[keyPath: path] = width == 0 ? [] : stride(from: 0, to: values.count, by: width).map {
                             Array(values[$0 ..< $0 + width])
                         }
                     })
    }
}
