import Corpus
import GPT

/// Held-out evaluation on fixed batches of the validation text, or for instruction data on the
/// validation rows (the loss overall and per task) and by greedy answers to validation prompts
/// (exact match and F1); and, once at the end of a run, the same on the test split.
struct Evaluation {
    private let textBatches: [(inputs: [Int32], targets: [Int32])]
    private let evaluator: GPTEvaluator
    /// Instruction data: the validation split's loss and answers.
    private let validationLoss: HeldOutLoss?
    private let validationAnswers: AnswerGeneration?
    /// Instruction data: how to build the test split's evaluation when the run ends.
    private let test: (() -> (HeldOutLoss, AnswerGeneration?))?

    init(settings: FederationSettings, corpus: FederatedCorpus) {
        let evaluator = GPTEvaluator(config: settings.model, batch: settings.batch, sequence: settings.sequence)
        self.evaluator = evaluator
        guard corpus.validationRows != nil else {
            textBatches = BatchSampler.validationBatches(tokens: corpus.validation, batch: settings.batch,
                                                         sequence: settings.sequence, maxBatches: settings.evalBatches)
            validationLoss = nil; validationAnswers = nil; test = nil
            return
        }
        textBatches = []
        let context = corpus.heldOutContext
        let padding = context?.endOfSequence ?? InstructionEncoder.byteEndOfSequence
        let pack = context?.pack ?? true
        func loss(_ split: HeldOutRecord.Split, maxBatches: Int?) -> HeldOutLoss {
            HeldOutLoss(records: corpus.heldOut.filter { $0.split == split }.map(\.record), context: context, padding: padding,
                        batch: settings.batch, maxBatches: maxBatches, evaluator: evaluator, sequence: settings.sequence, pack: pack)
        }
        func answers(_ split: HeldOutRecord.Split, count: Int) -> AnswerGeneration? {
            guard let context, count > 0 else { return nil }
            return AnswerGeneration(heldOut: corpus.heldOut, split: split, count: count,
                                    maxNewTokens: settings.evalMaxNewTokens, context: context)
        }
        validationLoss = loss(.validation, maxBatches: settings.evalBatches)
        validationAnswers = answers(.validation, count: settings.evalPrompts)
        let hasTest = corpus.heldOut.contains { $0.split == .test }
        test = hasTest ? { (loss(.test, maxBatches: nil), answers(.test, count: settings.testPrompts)) } : nil
    }

    /// The validation split's scores (plain text: only the loss); the loss is NaN when there
    /// are no batches. Without `answering`, no answers are generated.
    func scores(of parameters: ParameterBuffer, answering: Bool = true) -> EvaluationScores {
        var scores = EvaluationScores()
        if let validationLoss {
            validationLoss.measure(parameters, into: &scores)
            if answering { validationAnswers?.measure(parameters, into: &scores) }
        } else {
            scores.loss = textLoss(of: parameters)
        }
        return scores
    }

    /// Per task, the counted validation targets the batches hold (empty for plain text).
    var validationTaskTokens: [Int] { validationLoss?.taskTokens ?? [] }

    /// The test split's scores (every test row, up to `testPrompts` answers); nil without a test split.
    func testScores(of parameters: ParameterBuffer) -> EvaluationScores? {
        guard let (loss, answers) = test?() else { return nil }
        var scores = EvaluationScores()
        loss.measure(parameters, into: &scores)
        answers?.measure(parameters, into: &scores)
        return scores
    }

    /// The mean loss over the text batches (every batch counts the same); NaN when there are none.
    private func textLoss(of parameters: ParameterBuffer) -> Float {
        guard !textBatches.isEmpty else { return .nan }
        let total = textBatches.reduce(0.0) {
            $0 + Double(evaluator.loss(parameters: parameters, inputs: $1.inputs, targets: $1.targets))
        }
        return Float(total / Double(textBatches.count))
    }
}
