import Corpus

extension FederationSettings {
    /// The settings and corpus a run really uses: the centralized baselines pool every client
    /// into one and select it each round.
    public func effective(corpus: FederatedCorpus) -> (settings: FederationSettings, corpus: FederatedCorpus) {
        guard algorithm.poolsClients else { return (self, corpus) }
        var settings = self
        settings.clientsPerRound = clientsTrainingPerRound
        return (settings, corpus.pooled())
    }
}

extension FederationSettings {
    /// Clients that train at once in a round: k, or the one pooled client of the centralized baselines.
    public var clientsTrainingPerRound: Int { algorithm.poolsClients ? 1 : clientsPerRound }
}
