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
        let model = try ModelSource(job: loaded)
        self.model = model
        let job = model.resolved(loaded)
        self.job = job
        let config = model.config
        let optimizer = AdamWSettings(learningRate: Float(job.learningRate), beta1: Float(job.beta1),
                                      beta2: Float(job.beta2), weightDecay: Float(job.weightDecay))
        var settings = FederationSettings(
            model: config, rounds: job.totalRounds, clientsPerRound: job.clientsPerRound, localSteps: job.localSteps,
            batch: job.batch, sequence: job.sequence, optimizer: optimizer, seed: job.seed,
            evalBatches: job.evalBatches, checkpointEvery: job.checkpointEvery)
        settings.snapshots = job.snapshots
        settings.evalPrompts = job.evalPrompts
        settings.evalMaxNewTokens = job.evalMaxNewTokens
        settings.testPrompts = job.testPrompts
        settings.embeddingShards = job.embeddingShards
        let groups = EmbeddingShard.maximumCount(vocab: config.vocabSize)
        guard job.embeddingShards <= groups else {
            throw JobFileError(job.path, "'train.embedding_shards' is \(job.embeddingShards) but a vocabulary of \(config.vocabSize) tokens gives at most \(groups) shards of 16 rows; lower it")
        }
        do {
            try RunPlan.applyRoundOptions(job, to: &settings)
            // Fault injection is an experiment on the server's checks, not part of a job's
            // meaning, so it comes from the environment and never enters the stored job.
            if let faults = ProcessInfo.processInfo.environment["FEDCYBGD_FAULTS"], !faults.isEmpty {
                settings.faultyClients = try UploadFault.parse(faults)
            }
        } catch let error as OptionError {
            throw JobFileError(job.path, "\(error)")
        }
        self.settings = settings
        partition = job.partition == .iid ? .iid(clients: job.clients ?? 1) : .byFile
        runFolder = (job.output as NSString).appendingPathComponent(job.name)
        corpusTokens = CorpusTokens(runFolder: runFolder)
    }

    /// The options whose checks involve more than one key, and the typed values, into the settings.
    static func applyRoundOptions(_ job: JobFile, to settings: inout FederationSettings) throws {
        settings.blockSet = job.blocks
        settings.blockOrder = job.blockOrder
        settings.clientSelection = job.clientSelection
        settings.localEpochs = job.localEpochs
        settings.learningRateSchedule = try LearningRateSchedule(
            decay: job.lrSchedule.rawValue, warmupRounds: job.warmupRounds, floor: job.lrFloor, totalRounds: job.totalRounds)
        settings.updateNormGuard = try UpdateNormGuard.Configuration(
            multiple: job.updateNormMultiple, absolute: job.updateNormMax, warmup: job.updateNormWarmup,
            window: job.updateNormWindow)
        settings.algorithm = job.algorithm
        settings.downloadEncoding = job.downloadCodec
        settings.uploadEncoding = job.uploadCodec
        settings.layerDrop = LayerDrop(fraction: job.dropFraction, rule: job.dropRule)
        settings.lora = LoRAConfig(rank: job.loraRank, alpha: Float(job.loraAlpha))
    }

    /// OpenBLAS threads for each rank of this job on `host`.
    func blasThreads(host: HostLayout) -> Int {
        host.blasThreads(requested: job.threads, clientsTrainingPerRound: settings.clientsTrainingPerRound)
    }

    /// Loads and partitions the corpus; every rank does the same, so no data travels.
    func loadCorpus() throws -> PartitionedCorpus {
        if job.isInstructionData {
            let split = try InstructionLoader.load(path: job.corpus, tokenizer: model.tokenizer, settings: instructionSettings)
            return PartitionedCorpus(corpus: try checked(split.corpus), labels: split.labels, labelTokens: split.labelTokens,
                                     skipped: split.skipped)
        }
        let documents = try job.categorySelection.apply(
            to: corpusTokens.load(corpus: job.corpus, tokenizer: model.tokenizer), source: job.corpus)
        if job.partition == .dirichlet {
            let split = try DirichletPartition(documents: documents, clients: job.clients ?? 1, alpha: job.dirichletAlpha,
                                               seed: job.seed, validationFraction: job.validationFraction, sequence: job.sequence)
            return PartitionedCorpus(corpus: try checked(split.corpus), labels: split.labels, labelTokens: split.labelTokens)
        }
        let corpus = try CorpusLoader.federate(
            documents: documents, scheme: partition, clients: job.partition == .byFile ? job.clients : nil,
            validationFraction: job.validationFraction, sequence: job.sequence, source: job.corpus)
        let checkedCorpus = try checked(corpus)
        let names = documents.map(\.name)
        // By file, each client is one label (its file); an IID split mixes them, which is not traced.
        let mix: [[Int]]? = job.partition == .byFile ? checkedCorpus.clients.map { shard in
            names.map { $0 == shard.name ? shard.sampleCount : 0 }
        } : nil
        return PartitionedCorpus(corpus: checkedCorpus, labels: names, labelTokens: mix)
    }

    private func checked(_ corpus: FederatedCorpus) throws -> FederatedCorpus {
        guard settings.algorithm.poolsClients || corpus.clients.count >= settings.clientsPerRound else {
            throw JobFileError(job.path, "'train.clients_per_round' is \(settings.clientsPerRound) but the corpus gives only \(corpus.clients.count) clients; lower it")
        }
        return corpus
    }
}

/// A federated corpus with what is known of each client's label (corpus file, or record
/// field value) mix, and the bad records left out of instruction data.
struct PartitionedCorpus {
    let corpus: FederatedCorpus
    let labels: [String]
    let labelTokens: [[Int]]?
    var skipped: [BadRecord] = []
}

extension RunPlan {
    /// The instruction loader's settings, from the job.
    var instructionSettings: InstructionSettings {
        let scheme: InstructionPartitionScheme
        switch job.partition {
        case .iid: scheme = .iid(clients: job.clients ?? 1)
        case .dirichlet: scheme = .dirichlet(clients: job.clients ?? 1, alpha: job.dirichletAlpha)
        case .byField, .byFile: scheme = .byField
        }
        return InstructionSettings(
            scheme: scheme, clients: job.partition == .byField ? job.clients : nil, labelField: job.partitionField,
            templates: (try? job.promptTemplates()) ?? PromptTemplates(),
            validationFraction: job.validationFraction, testFraction: job.testFraction, sequence: job.sequence,
            pack: job.pack, seed: job.seed, badRecords: job.badRecords)
    }
}
