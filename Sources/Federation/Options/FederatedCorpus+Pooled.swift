import Corpus

extension FederatedCorpus {
    /// One client holding every client's training tokens, in client order: the data of the
    /// centralized baselines, so they train on exactly what the federated methods train on.
    public func pooled() -> FederatedCorpus {
        if let first = clients.first?.rows {
            let rows = clients.dropFirst().reduce(first) { $0.appending($1.rows!) }
            return replacing(clients: [ClientShard(client: 0, name: "all", rows: rows)])
        }
        let tokens = clients.flatMap(\.tokens)
        return FederatedCorpus(clients: [ClientShard(client: 0, name: "all", tokens: tokens)],
                               validation: validation, notices: notices)
    }
}
