/// One message of a chat-style record.
public struct ChatMessage: Sendable, Hashable {
    /// Who speaks: only the assistant's words are trained on.
    public enum Role: String, Sendable, Hashable, CaseIterable {
        case system, user, assistant
    }

    public let role: Role
    public let content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// One record of an instruction data set (one JSONL line), before any template.
public struct InstructionRecord: Sendable, Hashable {
    /// The two record styles `data.format = "jsonl"` reads.
    public enum Body: Sendable, Hashable {
        /// Alpaca: `instruction`, optional `input`, `output` (the response).
        case alpaca(instruction: String, input: String?, output: String)
        /// Chat: `messages`, a list of `role`/`content`; every assistant message is a response.
        case chat([ChatMessage])
    }

    /// The 1-based line of the file the record came from.
    public let line: Int
    public let body: Body
    /// The record's value of the partition field (`data.partition_field`), when it has one.
    public let label: String?

    public init(line: Int, body: Body, label: String?) {
        self.line = line
        self.body = body
        self.label = label
    }
}

/// A record that cannot be used: its line and why, so nothing is left out without a trace.
public struct BadRecord: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line of the file.
    public let line: Int
    public let reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { "line \(line): \(reason)" }
}

/// Reads JSONL instruction data into records, each bad line reported with its number and reason.
public enum InstructionParser {
    /// Every record of `bytes`, in file order, and every bad line. Blank lines hold no record and
    /// are passed over; a trailing carriage return (CRLF files) and a leading byte-order mark are
    /// ignored. A line that is not valid UTF-8 is a bad record.
    ///
    /// - Parameters:
    ///   - labelField: the top-level field whose string value labels a record (its task).
    ///   - labelRequired: whether a record without that field is bad (by-field and dirichlet
    ///     partitions need it); otherwise such a record simply has no label.
    public static func parse(_ bytes: [UInt8], labelField: String?, labelRequired: Bool) -> (records: [InstructionRecord], bad: [BadRecord]) {
        var records: [InstructionRecord] = []
        var bad: [BadRecord] = []
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var number = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            number += 1
            var line = bytes[start..<end]
            if line.last == 0x0D { line = line.dropLast() }
            if !line.allSatisfy({ [0x20, 0x09].contains($0) }) {
                switch record(Array(line), line: number, labelField: labelField, labelRequired: labelRequired) {
                case .success(let record): records.append(record)
                case .failure(let problem): bad.append(problem)
                }
            }
            start = end + 1
        }
        return (records, bad)
    }

    /// One line as a record, or why it is not one.
    static func record(_ bytes: [UInt8], line: Int, labelField: String?, labelRequired: Bool) -> Result<InstructionRecord, BadRecord> {
        func bad(_ reason: String) -> Result<InstructionRecord, BadRecord> { .failure(BadRecord(line: line, reason: reason)) }
        // JSON text is UTF-8; decoding invalid bytes to U+FFFD would train on text nobody wrote.
        guard String(validating: bytes, as: UTF8.self) != nil else { return bad("not UTF-8") }
        guard let json = RawJSON.parse(bytes) else { return bad("not valid JSON") }
        guard json.members != nil else { return bad("not a JSON object") }
        var label: String? = nil
        if let labelField {
            switch json[labelField] {
            case nil where labelRequired: return bad("missing '\(labelField)' (data.partition_field)")
            case nil: break
            case .some(let value):
                guard let text = value.text else { return bad("'\(labelField)' must be a string") }
                guard !isBlank(text) else { return bad("'\(labelField)' is empty") }
                label = text
            }
        }
        let body: Result<InstructionRecord.Body, RecordProblem>
        switch (json["instruction"], json["messages"]) {
        case (.some, .some): return bad("has both 'instruction' and 'messages'; use one record style")
        case (nil, nil): return bad("has neither 'instruction' (Alpaca style) nor 'messages' (chat style)")
        case (.some, nil): body = alpaca(json)
        case (nil, .some(let messages)): body = chat(messages)
        }
        switch body {
        case .success(let body): return .success(InstructionRecord(line: line, body: body, label: label))
        case .failure(let problem): return bad(problem.reason)
        }
    }

    private static func alpaca(_ json: RawJSON) -> Result<InstructionRecord.Body, RecordProblem> {
        guard let instruction = json["instruction"]?.text else { return .failure(RecordProblem("'instruction' must be a string")) }
        guard !isBlank(instruction) else { return .failure(RecordProblem("'instruction' is empty")) }
        var input: String? = nil
        if let value = json["input"], !value.isNull {
            guard let text = value.text else { return .failure(RecordProblem("'input' must be a string")) }
            input = isBlank(text) ? nil : text
        }
        guard let raw = json["output"] else { return .failure(RecordProblem("missing 'output' (the response)")) }
        guard let output = raw.text else { return .failure(RecordProblem("'output' must be a string")) }
        guard !isBlank(output) else { return .failure(RecordProblem("empty response ('output')")) }
        return .success(.alpaca(instruction: instruction, input: input, output: output))
    }

    private static func chat(_ value: RawJSON) -> Result<InstructionRecord.Body, RecordProblem> {
        guard let list = value.array else { return .failure(RecordProblem("'messages' must be a list of {\"role\", \"content\"} objects")) }
        guard !list.isEmpty else { return .failure(RecordProblem("'messages' is empty")) }
        var messages: [ChatMessage] = []
        for (index, item) in list.enumerated() {
            let n = index + 1
            guard item.members != nil else { return .failure(RecordProblem("message \(n) is not an object")) }
            guard let roleText = item["role"]?.text else { return .failure(RecordProblem("message \(n) has no string 'role'")) }
            guard let role = ChatMessage.Role(rawValue: roleText) else {
                return .failure(RecordProblem("message \(n): role '\(roleText)' is not system, user or assistant"))
            }
            guard let content = item["content"]?.text else { return .failure(RecordProblem("message \(n) has no string 'content'")) }
            if role == .system, index > 0 { return .failure(RecordProblem("message \(n): a system message must come first")) }
            if role == .assistant, isBlank(content) { return .failure(RecordProblem("message \(n): empty assistant response")) }
            messages.append(ChatMessage(role: role, content: content))
        }
        guard let firstSpoken = messages.first(where: { $0.role != .system }), firstSpoken.role == .user else {
            return .failure(RecordProblem("the first message after any system message must be the user's"))
        }
        guard messages.last?.role == .assistant else { return .failure(RecordProblem("the last message must be the assistant's (the response)")) }
        return .success(.chat(messages))
    }

    /// Why a record's body is unusable.
    struct RecordProblem: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
    }
}
