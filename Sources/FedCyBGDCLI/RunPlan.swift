import Corpus
import Federation
import Foundation
import GPT

/// A job file turned into what the algorithm, the corpus and the run store need.
struct RunPlan {
    let job: JobFile
    let settings: FederationSettings
    let partition: PartitionScheme
    /// Where the run's files go: `<output>/<name>`.
    let runFolder: String
    /// Where the model and the tokenizer come from (`model.init`, `data.tokenizer`).
    let model: ModelSource
    let corpusTokens: CorpusTokens

    init(job loaded: JobFile) throws {
        var job = loaded
        self.model = try ModelSource(job: &job)
        self.job = job
        let model = self.model.config
        let optimizer = AdamWSettings(learningRate: Float(job.learningRate), beta1: Float(job.beta1),
                                      beta2: Float(job.beta2), weightDecay: Float(job.weightDecay))
        var settings = FederationSettings(
            model: model, rounds: job.totalRounds, clientsPerRound: job.clientsPerRound, localSteps: job.localSteps,
            batch: job.batch, sequence: job.sequence, optimizer: optimizer, seed: job.seed,
            evalBatches: job.evalBatches, checkpointEvery: job.checkpointEvery)
        settings.snapshots = job.snapshots
        self.settings = settings
        partition = job.partition == "iid" ? .iid(clients: job.clients ?? 1) : .byFile
        runFolder = (job.output as NSString).appendingPathComponent(job.name)
        corpusTokens = CorpusTokens(runFolder: runFolder)
    }

    /// Loads and partitions the corpus; every rank does the same, so no data travels.
    func loadCorpus() throws -> FederatedCorpus {
        let documents = try corpusTokens.load(corpus: job.corpus, tokenizer: model.tokenizer)
        let corpus = try CorpusLoader.federate(
            documents: documents, scheme: partition, clients: job.partition == "by-file" ? job.clients : nil,
            validationFraction: job.validationFraction, sequence: job.sequence, source: job.corpus)
        guard corpus.clients.count >= settings.clientsPerRound else {
            throw JobFileError(job.path, "'train.clients_per_round' is \(settings.clientsPerRound) but the corpus gives only \(corpus.clients.count) clients; lower it")
        }
        return corpus
    }
}
