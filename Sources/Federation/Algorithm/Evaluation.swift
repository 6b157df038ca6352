import Corpus
import GPT

/// Held-out evaluation on fixed batches of the validation text, or for instruction data on the
/// validation rows (the loss overall and per task) and by greedy answers to validation prompts
/// (exact match and F1); and, once at the end of a run, the same on the test split.
struct Evaluation {
    /// What is evaluated, by the kind of the corpus's validation data.
    private enum Subject {
        /// Plain text: fixed batches of the validation text.
        case text(batches: [(inputs: [Int32], targets: [Int32])])
        /// Instruction data: the validation split's loss and answers, and how to build the test
        /// split's when the run ends (nil without a test split).
        case records(loss: HeldOutLoss, answers: AnswerGeneration?, test: (() -> (HeldOutLoss, AnswerGeneration?))?)
    }

    private let evaluator: GPTEvaluator
    private let subject: Subject

    init(settings: FederationSettings, corpus: FederatedCorpus) {
        let evaluator = GPTEvaluator(config: settings.model, batch: settings.batch, sequence: settings.sequence)
        self.evaluator = evaluator
        switch corpus.validation {
        case .text(let tokens):
            subject = .text(batches: BatchSampler.validationBatches(tokens: tokens, batch: settings.batch,
                                                                    sequence: settings.sequence, maxBatches: settings.evalBatches))
        case .rows:
            subject = Self.records(of: corpus, settings: settings, evaluator: evaluator)
        }
    }

    /// The held-out records' evaluations: the validation rows are the validation records packed,
    /// rebuilt here with each target's record so that losses can be told apart by task.
    private static func records(of corpus: FederatedCorpus, settings: FederationSettings, evaluator: GPTEvaluator) -> Subject {
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
        let hasTest = corpus.heldOut.contains { $0.split == .test }
        return .records(loss: loss(.validation, maxBatches: settings.evalBatches),
                        answers: answers(.validation, count: settings.evalPrompts),
                        test: hasTest ? { (loss(.test, maxBatches: nil), answers(.test, count: settings.testPrompts)) } : nil)
    }

    /// The validation split's scores (plain text: only the loss); the loss is NaN when there
    /// are no batches. Without `answering`, no answers are generated.
    func scores(of parameters: ParameterBuffer, answering: Bool = true) -> EvaluationScores {
        var scores = EvaluationScores()
        switch subject {
        case .text(let batches):
            scores.loss = textLoss(of: parameters, batches: batches)
        case let .records(loss, answers, _):
            loss.measure(parameters, into: &scores)
            if answering { answers?.measure(parameters, into: &scores) }
        }
        return scores
    }

    /// Per task, the counted validation targets the batches hold (empty for plain text).
    var validationTaskTokens: [Int] {
        guard case .records(let loss, _, _) = subject else { return [] }
        return loss.taskTokens
    }

    /// The test split's scores (every test row, up to `testPrompts` answers); nil without a test split.
    func testScores(of parameters: ParameterBuffer) -> EvaluationScores? {
        guard case .records(_, _, let test?) = subject else { return nil }
        let (loss, answers) = test()
        var scores = EvaluationScores()
        loss.measure(parameters, into: &scores)
        answers?.measure(parameters, into: &scores)
        return scores
    }

    /// The mean loss over the text batches (every batch counts the same); NaN when there are none.
    private func textLoss(of parameters: ParameterBuffer, batches: [(inputs: [Int32], targets: [Int32])]) -> Float {
        guard !batches.isEmpty else { return .nan }
        let total = batches.reduce(0.0) {
            $0 + Double(evaluator.loss(parameters: parameters, inputs: $1.inputs, targets: $1.targets))
        }
        return Float(total / Double(batches.count))
    }
}
