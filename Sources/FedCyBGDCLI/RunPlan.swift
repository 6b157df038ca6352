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
        partition = try PartitionScheme(kind: job.partition, clients: job.clients, alpha: job.dirichletAlpha)
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
        let split: PartitionedCorpus
        if job.isInstructionData {
            split = try InstructionLoader.load(path: job.corpus, tokenizer: model.tokenizer, settings: instructionSettings)
        } else {
            let documents = try job.categorySelection.apply(
                to: corpusTokens.load(corpus: job.corpus, tokenizer: model.tokenizer), source: job.corpus)
            split = try CorpusLoader.federate(documents: documents, scheme: partition, seed: job.seed,
                                              validationFraction: job.validationFraction, sequence: job.sequence, source: job.corpus)
        }
        try check(split.corpus)
        return split
    }

    private func check(_ corpus: FederatedCorpus) throws {
        guard settings.algorithm.poolsClients || corpus.clients.count >= settings.clientsPerRound else {
            throw JobFileError(job.path, "'train.clients_per_round' is \(settings.clientsPerRound) but the corpus gives only \(corpus.clients.count) clients; lower it")
        }
    }
}

extension RunPlan {
    /// The instruction loader's settings, from the job.
    var instructionSettings: InstructionSettings {
        InstructionSettings(
            scheme: partition, labelField: job.partitionField, templates: (try? job.promptTemplates()) ?? PromptTemplates(),
            validationFraction: job.validationFraction, testFraction: job.testFraction, sequence: job.sequence,
            pack: job.pack, seed: job.seed, badRecords: job.badRecords)
    }
}
