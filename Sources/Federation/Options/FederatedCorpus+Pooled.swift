import Corpus

extension FederatedCorpus {
    /// One client holding every client's training data, in client order: the data of the
    /// centralized baselines, so they train on exactly what the federated methods train on.
    public func pooled() -> FederatedCorpus {
        guard let first = clients.first else { return self }
        let data = clients.dropFirst().reduce(first.data) { $0.appending($1.data) }
        return replacing(clients: [ClientShard(client: 0, name: "all", data: data)])
    }
}
