import Foundation
import XCTest
@testable import FedCyBGDCLI

/// The job schema: the reader, range checks, the effective job and docs/JOBS.md all follow the declarations.
final class JobSchemaTests: XCTestCase {
    private func parse(_ text: String) throws -> JobFile { try JobFile.parse(text: text, path: "job.toml") }

    /// A small valid job with `changes` ("section.key" → TOML value) put in or over it.
    private func job(_ changes: [String: String] = [:]) -> String {
        var tables: [String: [String: String]] = [
            "model": ["layers": "2", "width": "32", "heads": "2"],
            "data": ["corpus": "\"/usr/share/games/fortunes\""], "train": ["rounds": "2"],
        ]
        for (path, value) in changes {
            let parts = path.split(separator: ".").map(String.init)
            tables[parts.count == 2 ? parts[0] : "", default: [:]][parts.last!] = value
        }
        func lines(_ table: [String: String]) -> String { table.sorted { $0.key < $1.key }.map { "\($0) = \($1)\n" }.joined() }
        return lines(tables["", default: [:]]) + tables.keys.filter { !$0.isEmpty }.sorted().map { "[\($0)]\n" + lines(tables[$0]!) }.joined()
    }

    private var base: String { job() }

    private func assertRefused(_ path: String, _ value: String, mentioning parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(job([path: value])), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
            for part in parts { XCTAssertTrue(message.contains(part), "\(message) lacks \(part)", file: file, line: line) }
        }
    }

    func testDocsKeyTableIsTheSchemas() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/JOBS.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "fedcybgd keys`, made from"))
        let body = text[start.upperBound...].drop { $0 != "\n" }.dropFirst()
        let end = try XCTUnwrap(body.range(of: "<!-- end of fedcybgd keys -->"))
        XCTAssertEqual(String(body[..<end.lowerBound]), JobSchema.shared.markdownTable,
                       "docs/JOBS.md's key table differs from the schema; paste the output of 'fedcybgd keys' between its markers")
    }

    func testValuesOutsideTheirRangeAreRefusedNamingKeyAndRange() {
        assertRefused("train.weight_decay", "-5.0", mentioning: ["'train.weight_decay'", "≥ 0", "-5.0"])
        assertRefused("train.beta2", "1.5", mentioning: ["'train.beta2'", "[0, 1)", "1.5"])
        assertRefused("train.beta1", "-0.1", mentioning: ["'train.beta1'", "[0, 1)"])
        assertRefused("train.batch", "0", mentioning: ["'train.batch'", "at least 1"])
        assertRefused("train.lr_floor", "2", mentioning: ["'train.lr_floor'", "[0, 1]"])
        assertRefused("data.validation_fraction", "1.0", mentioning: ["'data.validation_fraction'"])
        assertRefused("model.heads", "0", mentioning: ["'model.heads'", "at least 1"])
        assertRefused("download.drop_fraction", "1.0", mentioning: ["'download.drop_fraction'", "[0, 1)"])
        assertRefused("lora.alpha", "-1", mentioning: ["'lora.alpha'", "positive"])
        assertRefused("server.update_norm_multiple", "0.5", mentioning: ["'server.update_norm_multiple'"])
        assertRefused("upload.codec", "\"bf16\"", mentioning: ["'upload.codec'", "\"fp16\""])
    }

    func testEveryDeclaredRangeIsEnforcedByTheReader() throws {
        // Each numeric key with a range, given a value its range rejects, must be refused by name.
        var tried = 0
        for key in JobSchema.shared.all where key.rangeDescription != nil {
            let candidates: [String] = key.kind == .int ? ["-1", "0"] : key.kind == .number ? ["-1.0", "0.0", "1.0", "1.5"] : []
            for value in candidates {
                let literal: JobLiteral = key.kind == .int ? .int(Int(value)!) : .number(Double(value)!)
                guard (try? key.check(literal)) == nil else { continue }
                tried += 1
                XCTAssertThrowsError(try parse(job([key.path: value]))) { error in
                    XCTAssertTrue("\(error)".contains("'\(key.path)' must be"), "\(key.path) = \(value): \(error)")
                }
            }
        }
        XCTAssertGreaterThan(tried, 30)
    }

    func testWrongTypesAndUnknownKeysNameTheKey() {
        assertRefused("train.batch", "\"eight\"", mentioning: ["'train.batch' must be a whole number"])
        assertRefused("train.snapshots", "1", mentioning: ["'train.snapshots' must be true or false"])
        assertRefused("train.algorithm", "\"fedsgd\"", mentioning: ["train.algorithm", "\"fedavg\""])
        assertRefused("train.local_step", "3", mentioning: ["unknown key 'train.local_step'", "local_steps"])
    }

    func testOverridesAreRangeCheckedToo() throws {
        var job = try parse(base)
        job.rounds = 0
        XCTAssertThrowsError(try job.validate()) { XCTAssertTrue("\($0)".contains("'train.rounds' must be at least 1"), "\($0)") }
    }

    /// The effective jobs below were written by the reader before the schema existed: a run stored
    /// then must compare equal on resume, so the text must not move.
    func testEffectiveJobIsTheTextStoredBeforeTheSchema() throws {
        XCTAssertEqual(try parse(Self.methodsJob).effectiveTOML, Self.methodsEffective)
        XCTAssertEqual(try parse(Self.llamaInstructionJob).effectiveTOML, Self.llamaInstructionEffective)
        for text in [Self.methodsJob, Self.llamaInstructionJob, base] {
            let job = try parse(text)
            XCTAssertTrue(job.differences(from: try parse(job.effectiveTOML)).isEmpty)
        }
        XCTAssertEqual(JobFile.safeToChangeOnResume, ["output", "server.round_timeout", "train.checkpoint_every",
                                                      "train.keep_checkpoints", "train.rounds", "train.threads"])
    }

    static let methodsJob = """
        name = "v"
        seed = 7
        [model]
        layers = 2
        width = 32
        heads = 2
        [data]
        corpus = "/usr/share/games/fortunes"
        partition = "dirichlet"
        clients = 5
        dirichlet_alpha = 0.3
        exclude_categories = ["art"]
        [train]
        rounds = 4
        clients_per_block = 2
        algorithm = "fedlora"
        blocks = "layers"
        [lora]
        rank = 4
        [download]
        codec = "prune:0.5"
        [upload]
        codec = "int8"
        """

    static let methodsEffective = """
        # fedcybgd job as run (the job file with command-line overrides applied)
        name = "v"
        output = "runs"
        seed = 7

        [model]
        context = 128
        heads = 2
        layers = 2
        width = 32

        [data]
        clients = 5
        corpus = "/usr/share/games/fortunes"
        dirichlet_alpha = 0.3
        exclude_categories = ["art"]
        partition = "dirichlet"
        validation_fraction = 0.1

        [train]
        algorithm = "fedlora"
        batch = 8
        beta1 = 0.9
        beta2 = 0.95
        block_order = "ascending"
        blocks = "layers"
        checkpoint_every = 0
        client_selection = "cyclic"
        clients_per_round = 2
        eval_batches = 16
        keep_checkpoints = 3
        learning_rate = 0.001
        local_steps = 10
        lr_floor = 0.1
        lr_schedule = "constant"
        rounds = 4
        sequence = 128
        snapshots = false
        threads = 0
        warmup_rounds = 0
        weight_decay = 0.1

        [server]
        update_norm_warmup = 3
        update_norm_window = 32

        [download]
        codec = "prune:0.5"

        [upload]
        codec = "int8"

        [lora]
        alpha = 16.0
        rank = 4
        """ + "\n"

    static let llamaInstructionJob = """
        name = "v3"
        [model]
        architecture = "llama"
        layers = 2
        width = 32
        heads = 4
        kv_heads = 2
        rope_theta = 500000
        tie_embeddings = true
        intermediate = 48
        vocab = 300
        [data]
        corpus = "x.jsonl"
        format = "jsonl"
        bad_records = "skip"
        pack = false
        [train]
        rounds = 3
        eval_prompts = 4
        learning_rate = 1
        [download]
        drop_fraction = 0.5
        drop_rule = "far"
        codec = "int8"
        [server]
        update_norm_multiple = 4
        update_norm_warmup = 2
        """

    static let llamaInstructionEffective = """
        # fedcybgd job as run (the job file with command-line overrides applied)
        name = "v3"
        output = "runs"
        seed = 1234

        [model]
        architecture = "llama"
        context = 128
        heads = 4
        intermediate = 48
        kv_heads = 2
        layers = 2
        rope_theta = 500000.0
        tie_embeddings = true
        vocab = 300
        width = 32

        [data]
        bad_records = "skip"
        chat_template = "chatml"
        corpus = "x.jsonl"
        format = "jsonl"
        pack = false
        partition = "by-field"
        partition_field = "task"
        template = "alpaca"
        test_fraction = 0.1
        validation_fraction = 0.1

        [train]
        batch = 8
        beta1 = 0.9
        beta2 = 0.95
        block_order = "ascending"
        blocks = "all"
        checkpoint_every = 0
        client_selection = "cyclic"
        clients_per_round = 1
        eval_batches = 16
        eval_max_new_tokens = 64
        eval_prompts = 4
        keep_checkpoints = 3
        learning_rate = 1.0
        local_steps = 10
        lr_floor = 0.1
        lr_schedule = "constant"
        rounds = 3
        sequence = 128
        snapshots = false
        test_prompts = 128
        threads = 0
        warmup_rounds = 0
        weight_decay = 0.1

        [server]
        update_norm_multiple = 4.0
        update_norm_warmup = 2
        update_norm_window = 32

        [download]
        codec = "int8"
        drop_fraction = 0.5
        drop_rule = "far"
        """ + "\n"
}
