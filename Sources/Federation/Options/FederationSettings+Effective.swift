import Corpus

extension FederationSettings {
    /// The settings and corpus a run really uses: the centralized baselines pool every client
    /// into one and select it each round.
    public func effective(corpus: FederatedCorpus) -> (settings: FederationSettings, corpus: FederatedCorpus) {
        guard algorithm.poolsClients else { return (self, corpus) }
        var settings = self
        settings.clientsPerRound = 1
        return (settings, corpus.pooled())
    }
}
