import Corpus
import GPT

/// Greedy answers to held-out prompts, scored with SQuAD's exact match and F1 (`AnswerScore`).
///
/// The prompts are chosen once, deterministically and spread over the tasks: the split's
/// records grouped by task (in task order, records without a task last), each group in
/// held-out order, taken one per group in turn until `count` are chosen. Each answer is decoded
/// greedily with the key/value-cached `IncrementalDecoder` until the end-of-sequence id, the
/// chat template's end marker, `maxNewTokens` ids or the end of the context.
struct AnswerGeneration {
    /// Indices into `FederatedCorpus.heldOut` of the prompts, in the order they are answered.
    let chosen: [Int]
    private let records: [HeldOutRecord]
    private let context: HeldOutContext
    private let maxNewTokens: Int

    init(heldOut: [HeldOutRecord], split: HeldOutRecord.Split, count: Int, maxNewTokens: Int, context: HeldOutContext) {
        var groups: [Int: [Int]] = [:]
        for (index, record) in heldOut.enumerated() where record.split == split {
            groups[context.task(of: record.record) ?? Int.max, default: []].append(index)
        }
        let ordered = groups.keys.sorted().map { groups[$0]! }
        var chosen: [Int] = []
        var depth = 0
        while chosen.count < count, ordered.contains(where: { depth < $0.count }) {
            for group in ordered where depth < group.count && chosen.count < count { chosen.append(group[depth]) }
            depth += 1
        }
        self.chosen = chosen
        records = heldOut
        self.context = context
        self.maxNewTokens = maxNewTokens
    }

    /// Answers every chosen prompt with `parameters` and puts the scores into `scores`.
    func measure(_ parameters: ParameterBuffer, into scores: inout EvaluationScores) {
        let tasks = context.tasks.count
        scores.taskExactMatch = [Float](repeating: .nan, count: tasks)
        scores.taskF1 = [Float](repeating: .nan, count: tasks)
        guard !chosen.isEmpty else { return }
        let decoder = IncrementalDecoder(parameters: parameters)
        scores.answers = chosen.map { answer(records[$0], heldOut: $0, decoder: decoder) }
        let (exact, f1) = Self.means(scores.answers)
        scores.exactMatch = exact
        scores.f1 = f1
        for task in 0..<tasks {
            let mine = scores.answers.filter { $0.task == task }
            guard !mine.isEmpty else { continue }
            (scores.taskExactMatch[task], scores.taskF1[task]) = Self.means(mine)
        }
    }

    private static func means(_ answers: [GeneratedAnswer]) -> (Float, Float) {
        let n = Double(answers.count)
        return (Float(answers.reduce(0) { $0 + $1.exactMatch } / n), Float(answers.reduce(0) { $0 + $1.f1 } / n))
    }

    /// One greedy answer to `held`'s prompt, scored against its reference.
    private func answer(_ held: HeldOutRecord, heldOut index: Int, decoder: IncrementalDecoder) -> GeneratedAnswer {
        let record = held.record
        let prompt = Array(record.tokens[..<record.promptLength])
        let room = min(maxNewTokens, decoder.config.contextLength - prompt.count)
        var generated: [TokenID] = []
        var text = ""
        if !prompt.isEmpty && room > 0 {
            decoder.reset()
            var logits = decoder.append(prompt)
            for step in 0..<room {
                let next = Self.argmax(logits)
                generated.append(next)
                if next == context.endOfSequence { break }
                text = context.tokenizer.decode(generated)
                if text.firstRange(of: context.endMarker) != nil || step == room - 1 { break }
                logits = decoder.append([next])
            }
        }
        let ids = generated.last == context.endOfSequence ? Array(generated.dropLast()) : generated
        text = context.tokenizer.decode(ids)
        if let marker = text.firstRange(of: context.endMarker) { text = String(text[..<marker.lowerBound]) }
        return GeneratedAnswer(heldOut: index, task: context.task(of: record) ?? -1, line: record.line, text: text,
                               generatedTokens: generated.count,
                               exactMatch: AnswerScore.exactMatch(text, reference: record.reference),
                               f1: AnswerScore.f1(text, reference: record.reference))
    }

    /// The first index of the largest logit (greedy decoding).
    private static func argmax(_ logits: [Float]) -> TokenID {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return TokenID(best)
    }
}
