import Corpus
import XCTest

/// Instruction data: templates, the response-only mask, packing, bad records and partitions.
final class InstructionDataTests: XCTestCase {
    private let byte = ByteTokenizer()

    /// Stanford Alpaca's published template (github.com/tatsu-lab/stanford_alpaca, train.py's
    /// PROMPT_DICT), typed from its README, so a changed template fails here.
    func testAlpacaTemplateIsStanfordsWithAndWithoutInput() {
        let templates = PromptTemplates()
        let withInput = templates.render(.alpaca(instruction: "Translate.", input: "dog", output: "Hund"))
        XCTAssertEqual(withInput.segments, [
            TemplateSegment("Below is an instruction that describes a task, paired with an input that provides further context. "
                + "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate.\n\n### Input:\ndog\n\n### Response:\n",
                isResponse: false),
            TemplateSegment("Hund", isResponse: true),
        ])
        let plain = templates.render(.alpaca(instruction: "Define cat.", input: nil, output: "A small feline."))
        XCTAssertEqual(plain.segments.map(\.text).joined(),
                       "Below is an instruction that describes a task. Write a response that appropriately completes the request."
                        + "\n\n### Instruction:\nDefine cat.\n\n### Response:\nA small feline.")
        XCTAssertEqual(plain.reference, "A small feline.")
        XCTAssertEqual(plain.finalResponse, 1)
    }

    func testChatTemplatesMarkEveryAssistantTurnAndItsEndMarker() throws {
        let chat: InstructionRecord.Body = .chat([
            ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hi"),
            ChatMessage(role: .assistant, content: "Hello"), ChatMessage(role: .user, content: "Bye"),
            ChatMessage(role: .assistant, content: "Ciao"),
        ])
        let chatml = PromptTemplates(chat: .chatml).render(chat)
        XCTAssertEqual(chatml.segments.map(\.text).joined(),
                       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
                        + "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>")
        XCTAssertEqual(chatml.segments.filter(\.isResponse).map(\.text), ["Hello<|im_end|>", "Ciao<|im_end|>"])
        XCTAssertEqual(chatml.segments[chatml.finalResponse].text, "Ciao<|im_end|>")
        XCTAssertEqual(chatml.reference, "Ciao")
        let zephyr = PromptTemplates(chat: .zephyr).render(chat)
        XCTAssertEqual(zephyr.segments.map(\.text).joined(),
                       "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye</s>\n<|assistant|>\nCiao</s>")
        XCTAssertEqual(zephyr.segments.filter(\.isResponse).map(\.text), ["Hello</s>", "Ciao</s>"])
        XCTAssertThrowsError(try PromptTemplates(instruction: "alpaca", chat: "llama9")) {
            XCTAssertTrue("\($0)".contains("data.chat_template"), "\($0)")
        }
    }

    /// With bytes, the counted tokens are exactly the response's UTF-8 bytes and the end byte.
    func testMaskCountsResponseBytesAndEndOfSequenceOnly() {
        let record = InstructionRecord(line: 7, body: .alpaca(instruction: "Say hi.", input: nil, output: "Grüß dich"), label: "greet")
        let (encoded, bad) = InstructionEncoder.encode([record], templates: PromptTemplates(), tokenizer: byte, maxTokens: 1000)
        XCTAssertEqual(bad, [])
        let tokens = encoded[0].tokens, counted = encoded[0].counted
        let prompt = PromptTemplates().render(record.body).segments[0].text
        XCTAssertEqual(tokens, (Array(prompt.utf8) + Array("Grüß dich".utf8)).map(TokenID.init) + [3])
        XCTAssertEqual(counted, [Bool](repeating: false, count: prompt.utf8.count) + [Bool](repeating: true, count: "Grüß dich".utf8.count + 1))
        XCTAssertEqual(encoded[0].countedTokens, "Grüß dich".utf8.count + 1)
        XCTAssertEqual(encoded[0].promptLength, prompt.utf8.count)
        XCTAssertEqual(encoded[0].line, 7)
    }

    func testRecordsTooLongOrHoldingTheEndByteAreBad() {
        let long = InstructionRecord(line: 2, body: .alpaca(instruction: "x", input: nil, output: String(repeating: "y", count: 50)), label: nil)
        let endByte = InstructionRecord(line: 3, body: .alpaca(instruction: "x", input: nil, output: "a\u{3}b"), label: nil)
        let (encoded, bad) = InstructionEncoder.encode([long, endByte], templates: PromptTemplates(), tokenizer: byte, maxTokens: 100)
        XCTAssertTrue(encoded.isEmpty)
        XCTAssertEqual(bad.map(\.line), [2, 3])
        XCTAssertTrue(bad[0].reason.contains("more than train.sequence + 1 = 100"), bad[0].reason)
        XCTAssertTrue(bad[1].reason.contains("0x03"), bad[1].reason)
    }

    /// Each bad line is reported with its number and reason; good lines around it survive.
    func testParserReportsEveryBadLineByNumber() {
        let lines = [
            #"{"task": "a", "instruction": "I", "output": "O"}"#,
            #"not json"#,
            #"[1, 2]"#,
            #"{"task": "a", "instruction": "I"}"#,
            #"{"task": "a", "instruction": "I", "output": "   "}"#,
            #"{"task": "a", "instruction": 5, "output": "O"}"#,
            "",
            #"{"instruction": "I", "output": "O"}"#,
            #"{"task": "b", "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}"#,
            #"{"task": "b", "messages": [{"role": "user", "content": "Q"}]}"#,
            #"{"task": "b", "messages": [{"role": "bot", "content": "Q"}]}"#,
            #"{"task": "b", "instruction": "I", "output": "O", "messages": []}"#,
            #"{"task": 3, "instruction": "I", "output": "O"}"#,
        ]
        let (records, bad) = InstructionParser.parse(Array(lines.joined(separator: "\r\n").utf8), labelField: "task", labelRequired: true)
        XCTAssertEqual(records.map(\.line), [1, 9])
        XCTAssertEqual(records.map(\.label), ["a", "b"])
        XCTAssertEqual(bad.map(\.line), [2, 3, 4, 5, 6, 8, 10, 11, 12, 13])
        let reasons = Dictionary(uniqueKeysWithValues: bad.map { ($0.line, $0.reason) })
        XCTAssertEqual(reasons[2], "not valid JSON")
        XCTAssertEqual(reasons[4], "missing 'output' (the response)")
        XCTAssertEqual(reasons[5], "empty response ('output')")
        XCTAssertEqual(reasons[6], "'instruction' must be a string")
        XCTAssertEqual(reasons[8], "missing 'task' (data.partition_field)")
        XCTAssertEqual(reasons[10], "the last message must be the assistant's (the response)")
        XCTAssertEqual(reasons[13], "'task' must be a string")
        let unlabelled = InstructionParser.parse(Array(lines[7].utf8), labelField: "task", labelRequired: false)
        XCTAssertEqual(unlabelled.records.count, 1, "an IID split needs no label")
    }

    /// Two short records share a row (first fit); targets are the next token where it counts, -1 elsewhere.
    func testPackedRowsShiftTargetsAndIgnorePromptAndPadding() {
        let a = TokenizedRecord(line: 1, label: nil, tokens: [10, 11, 12, 3], counted: [false, false, true, true], promptLength: 2, reference: "")
        let b = TokenizedRecord(line: 2, label: nil, tokens: [20, 21, 3], counted: [false, true, true], promptLength: 1, reference: "")
        let big = TokenizedRecord(line: 3, label: nil, tokens: [30, 31, 32, 33, 34, 3], counted: [false, false, false, true, true, true],
                                  promptLength: 3, reference: "")
        let rows = TokenRows(records: [a, big, b], sequence: 7, pack: true, padding: 3)
        XCTAssertEqual(rows.count, 2, "a and b share the first row; big needs its own")
        XCTAssertEqual(Array(rows.inputs[0..<7]), [10, 11, 12, 3, 20, 21, 3])
        XCTAssertEqual(Array(rows.targets[0..<7]), [-1, 12, 3, -1, 21, 3, -1])
        XCTAssertEqual(Array(rows.inputs[7..<14]), [30, 31, 32, 33, 34, 3, 3])
        XCTAssertEqual(Array(rows.targets[7..<14]), [-1, -1, 33, 34, 3, -1, -1])
        XCTAssertEqual(rows.counted, [4, 3])
        XCTAssertEqual(rows.countedTotal, a.countedTokens + b.countedTokens + big.countedTokens)
        let unpacked = TokenRows(records: [a, big, b], sequence: 7, pack: false, padding: 3)
        XCTAssertEqual(unpacked.count, 3)
        XCTAssertEqual(unpacked.countedTotal, rows.countedTotal)
    }

    func testRowBatchesAreDeterministicAndEvaluationFillsWithIgnoredRows() {
        let first = BatchSampler.trainingRowIndices(rowCount: 5, batch: 8, seed: 1, round: 2, client: 3, step: 4)
        XCTAssertEqual(first, BatchSampler.trainingRowIndices(rowCount: 5, batch: 8, seed: 1, round: 2, client: 3, step: 4))
        XCTAssertNotEqual(first, BatchSampler.trainingRowIndices(rowCount: 5, batch: 8, seed: 1, round: 2, client: 3, step: 5))
        XCTAssertTrue(first.allSatisfy { (0..<5).contains($0) })
        XCTAssertEqual(BatchSampler.validationRowIndices(rowCount: 5, batch: 4, maxBatches: 3), [[0, 1, 2, 3], [4, nil, nil, nil]])
        XCTAssertEqual(BatchSampler.validationRowIndices(rowCount: 10, batch: 2, maxBatches: 2), [[0, 2], [5, 7]])
    }

    private func jsonl(tasks: [String: Int]) -> [UInt8] {
        var lines: [String] = []
        for (task, count) in tasks.sorted(by: { $0.key < $1.key }) {
            for i in 0..<count { lines.append(#"{"task": "\#(task)", "instruction": "Q\#(i)", "output": "answer \#(i)"}"#) }
        }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    func testByFieldGivesOneClientPerValueAndKeepsEveryRecord() throws {
        let settings = InstructionSettings(scheme: .byField(clients: nil), validationFraction: 0.2, testFraction: 0.1, sequence: 400, seed: 5)
        let split = try InstructionLoader.federate(bytes: jsonl(tasks: ["zeta": 10, "alpha": 20, "mid": 1]), source: "t.jsonl",
                                                   tokenizer: byte, settings: settings)
        XCTAssertEqual(split.corpus.clients.map(\.name), ["alpha", "mid", "zeta"])
        XCTAssertEqual(split.labels, ["alpha", "mid", "zeta"])
        let held = split.corpus.heldOut
        XCTAssertEqual(held.filter { $0.split == .validation }.map(\.client).count, 4 + 0 + 2)
        XCTAssertEqual(held.filter { $0.split == .test }.count, 2 + 0 + 1)
        XCTAssertTrue(held.allSatisfy { split.labels[$0.client] == $0.record.label })
        // Every record's counted tokens are in exactly one place: a client's rows or a held-out record.
        let perRecord = "answer 0".utf8.count + 1
        let training = split.corpus.clients.map { $0.data.countedTokens }.reduce(0, +)
        XCTAssertEqual(training + held.map(\.record.countedTokens).reduce(0, +), 31 * perRecord + 10, "alpha's answers 10-19 have two digits")
        XCTAssertEqual(split.labelTokens?[1], [0, perRecord, 0], "client 'mid' keeps its one record for training")
        XCTAssertThrowsError(try InstructionLoader.federate(
            bytes: jsonl(tasks: ["a": 3, "b": 3]), source: "t.jsonl", tokenizer: byte,
            settings: InstructionSettings(scheme: .byField(clients: 3), sequence: 400, seed: 5))) {
            XCTAssertTrue("\($0)".contains("2, the number of distinct 'task' values in t.jsonl"), "\($0)")
        }
    }

    func testIIDAndDirichletAreDeterministicAndUseEveryRecord() throws {
        let bytes = jsonl(tasks: ["a": 30, "b": 30, "c": 30])
        for scheme in [PartitionScheme.iid(clients: 4), .dirichlet(clients: 6, alpha: 0.3)] {
            let settings = InstructionSettings(scheme: scheme, validationFraction: 0.1, testFraction: 0.1, sequence: 400, seed: 9)
            let one = try InstructionLoader.federate(bytes: bytes, source: "t", tokenizer: byte, settings: settings)
            let two = try InstructionLoader.federate(bytes: bytes, source: "t", tokenizer: byte, settings: settings)
            XCTAssertEqual(one.corpus.clients.map(\.data), two.corpus.clients.map(\.data))
            XCTAssertEqual(one.corpus.heldOut, two.corpus.heldOut)
            let training = one.corpus.clients.map { $0.data.countedTokens }.reduce(0, +)
            XCTAssertEqual(training + one.corpus.heldOut.map(\.record.countedTokens).reduce(0, +),
                           90 * ("answer 0".utf8.count + 1) + 60, "answers 10-29 of each task have one more digit")
            XCTAssertTrue(one.corpus.clients.allSatisfy { ($0.data.rows?.count ?? 0) > 0 })
        }
    }

    func testStopModeNamesTheFirstBadLine() {
        var bytes = jsonl(tasks: ["a": 3])
        bytes += Array("{\"task\": \"a\"}\n".utf8)
        let settings = InstructionSettings(scheme: .byField(clients: nil), sequence: 400, seed: 1)
        XCTAssertThrowsError(try InstructionLoader.federate(bytes: bytes, source: "d.jsonl", tokenizer: byte, settings: settings)) {
            XCTAssertTrue("\($0)".hasPrefix("d.jsonl:4: has neither 'instruction'"), "\($0)")
        }
        var skipping = settings
        skipping.badRecords = .skip
        let split = try? InstructionLoader.federate(bytes: bytes, source: "d.jsonl", tokenizer: byte, settings: skipping)
        XCTAssertEqual(split?.skipped.map(\.line), [4])
    }

    /// JSON text is UTF-8: a record holding other bytes is bad, not decoded to U+FFFD and trained on.
    func testRecordThatIsNotUTF8IsBadAndStoppedOnOrSkipped() throws {
        var bytes = jsonl(tasks: ["a": 3])
        bytes += Array(#"{"task": "a", "instruction": "I", "output": "O"#.utf8) + [0xFF, 0xFE] + Array("\"}\n".utf8)
        let settings = InstructionSettings(scheme: .byField(clients: nil), sequence: 400, pack: false, seed: 1)
        XCTAssertThrowsError(try InstructionLoader.federate(bytes: bytes, source: "d.jsonl", tokenizer: byte, settings: settings)) {
            XCTAssertTrue("\($0)".hasPrefix("d.jsonl:4: not UTF-8 — "), "\($0)")
        }
        var skipping = settings
        skipping.badRecords = .skip
        let split = try InstructionLoader.federate(bytes: bytes, source: "d.jsonl", tokenizer: byte, settings: skipping)
        XCTAssertEqual(split.skipped, [BadRecord(line: 4, reason: "not UTF-8")])
        XCTAssertEqual(split.corpus.clients.map { $0.data.rows?.count ?? 0 }.reduce(0, +) + split.corpus.heldOut.count, 3,
                       "one row per good record, none for the bad one")
        XCTAssertTrue(split.corpus.notices.contains { $0.hasPrefix("skipped 1 bad record of d.jsonl") }, "\(split.corpus.notices)")
    }
}
