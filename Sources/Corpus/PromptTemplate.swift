/// A piece of a rendered record: its text, and whether its tokens are targets of the loss
/// (response) or only context (prompt).
public struct TemplateSegment: Sendable, Hashable {
    public let text: String
    public let isResponse: Bool

    public init(_ text: String, isResponse: Bool) {
        self.text = text
        self.isResponse = isResponse
    }
}

/// A record as text segments, with what a generation evaluation needs: the prompt is every
/// segment before `finalResponse`, the reference is the last response's own words.
public struct RenderedRecord: Sendable, Hashable {
    public let segments: [TemplateSegment]
    /// The index of the segment where the final response begins.
    public let finalResponse: Int
    /// The final response's text, without any end marker.
    public let reference: String
}

/// How records become text: `data.template` for Alpaca-style records, `data.chat_template`
/// for chat-style ones (docs/DATA.md shows each).
public struct PromptTemplates: Sendable, Hashable {
    /// Templates for Alpaca-style records.
    public enum Instruction: String, Sendable, CaseIterable {
        /// Stanford Alpaca's prompt (with and without an input).
        case alpaca
    }

    /// Templates for chat-style records.
    public enum Chat: String, Sendable, CaseIterable {
        /// `<|im_start|>role\ncontent<|im_end|>\n` (OpenAI's ChatML, used by Qwen and SmolLM).
        case chatml
        /// `<|role|>\ncontent</s>\n` (Hugging Face's Zephyr).
        case zephyr
    }

    public let instruction: Instruction
    public let chat: Chat

    public init(instruction: Instruction = .alpaca, chat: Chat = .chatml) {
        self.instruction = instruction
        self.chat = chat
    }

    /// Reads the two job values; an unknown name is an error listing the known ones.
    public init(instruction: String, chat: String) throws {
        guard let prompt = Instruction(rawValue: instruction) else {
            throw CorpusError.invalidSetting(name: "data.template", value: "\"\(instruction)\"",
                                             expected: Instruction.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or "))
        }
        guard let dialogue = Chat(rawValue: chat) else {
            throw CorpusError.invalidSetting(name: "data.chat_template", value: "\"\(chat)\"",
                                             expected: Chat.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or "))
        }
        self.init(instruction: prompt, chat: dialogue)
    }

    static let alpacaWithInput = "Below is an instruction that describes a task, paired with an input that provides further context. "
        + "Write a response that appropriately completes the request.\n\n### Instruction:\n"
    static let alpacaWithoutInput = "Below is an instruction that describes a task. "
        + "Write a response that appropriately completes the request.\n\n### Instruction:\n"

    /// The record as segments; the caller appends the end-of-sequence token.
    public func render(_ body: InstructionRecord.Body) -> RenderedRecord {
        switch body {
        case let .alpaca(instruction, input, output):
            let prompt = input.map { Self.alpacaWithInput + instruction + "\n\n### Input:\n" + $0 + "\n\n### Response:\n" }
                ?? Self.alpacaWithoutInput + instruction + "\n\n### Response:\n"
            return RenderedRecord(segments: [TemplateSegment(prompt, isResponse: false), TemplateSegment(output, isResponse: true)],
                                  finalResponse: 1, reference: output)
        case let .chat(messages):
            return renderChat(messages)
        }
    }

    /// Each message as header, content and end marker; an assistant's content and end marker
    /// are the response (the model must learn to stop), the newline after them is not.
    private func renderChat(_ messages: [ChatMessage]) -> RenderedRecord {
        var segments: [TemplateSegment] = []
        var finalResponse = 0
        func prompt(_ text: String) {
            if let last = segments.last, !last.isResponse {
                segments[segments.count - 1] = TemplateSegment(last.text + text, isResponse: false)
            } else {
                segments.append(TemplateSegment(text, isResponse: false))
            }
        }
        for (index, message) in messages.enumerated() {
            let isLast = index == messages.count - 1
            let (header, end) = markers(message.role)
            prompt(header)
            if message.role == .assistant {
                finalResponse = segments.count
                segments.append(TemplateSegment(message.content + end, isResponse: true))
                if !isLast { prompt("\n") }
            } else {
                prompt(message.content + end + "\n")
            }
        }
        return RenderedRecord(segments: segments, finalResponse: finalResponse, reference: messages.last?.content ?? "")
    }

    /// The chat template's end-of-message text, where a generated answer ends.
    public var endMarker: String { markers(.assistant).end }

    private func markers(_ role: ChatMessage.Role) -> (header: String, end: String) {
        switch chat {
        case .chatml: return ("<|im_start|>\(role.rawValue)\n", "<|im_end|>")
        case .zephyr: return ("<|\(role.rawValue)|>\n", "</s>")
        }
    }
}
