import Foundation

/// `partition.h5` in the run folder: how the corpus was split into clients, so the non-IID-ness
/// of a run can be studied next to its history.
public enum PartitionRecord {
    /// Writes the client names and sizes, and (when known) the tokens of each label per client.
    public static func write(folder: String, scheme: String, clientNames: [String], clientTokens: [Int],
                             labels: [String], labelTokens: [[Int]]?) throws {
        let path = (folder as NSString).appendingPathComponent("partition.h5")
        let file = try HDF5File.create(path)
        try file.setAttribute("description", "how the corpus was split into clients")
        try file.setAttribute("scheme", scheme)
        try file.setAttribute("client_names", clientNames.joined(separator: "\n"))
        try file.setAttribute("labels", labels.joined(separator: "\n"))
        let sizes = try file.createDataset("client_tokens", shape: [clientTokens.count], values: clientTokens)
        try sizes.setAttribute("description", "training tokens of each client")
        try sizes.setAttribute("units", "tokens")
        if let labelTokens, let width = labelTokens.first?.count {
            let mix = try file.createDataset("label_tokens", shape: [labelTokens.count, width], values: labelTokens.flatMap { $0 })
            try mix.setAttribute("description", "training tokens of each label (corpus file) held by each client: [client, label]; labels are listed in the root attribute 'labels'")
            try mix.setAttribute("units", "tokens")
        }
        try file.close()
    }
}
