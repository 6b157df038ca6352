import Federation
import GPT
import XCTest

/// Faulty clients, injected through the in-memory transport: the server must leave their
/// uploads out, keep the block as it was, and record the rejection.
final class UploadValidationTests: XCTestCase {
    /// Runs 3 ranks where rank 2 (host of clients 1 and 3) corrupts client 1's upload body.
    private func runWithFaultyClient(_ corrupt: @escaping ([UInt8]) -> [UInt8]) throws -> MemoryRunStore {
        let settings = TinyRun.settings(rounds: 4, checkpointEvery: 1)
        let corpus = try TinyRun.corpus()
        let bodyTag = UploadTag.body(client: 1)
        let (store, _) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus) { rank, transport in
            guard rank == 2 else { return }
            transport.tamper = { _, tag, bytes in tag == bodyTag ? corrupt(bytes) : bytes }
        }
        return store
    }

    private func assertRoundTwoRejected(_ store: MemoryRunStore, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(store.records.map(\.rejectedUploads), [0, 1, 0, 0], file: file, line: line)
        XCTAssertTrue(store.records[1].trainLoss.isNaN, file: file, line: line)
        // Round 2 trains block 1 on client 1; its block must not move.
        let layout = ParameterLayout(config: TinyRun.settings().model)
        let block = layout.blocks[1].range
        XCTAssertEqual(store.checkpoints[0].parameters[block], store.checkpoints[1].parameters[block], file: file, line: line)
        // The other rounds still trained.
        XCTAssertNotEqual(store.checkpoints[1].parameters[layout.blocks[2].range],
                          store.checkpoints[2].parameters[layout.blocks[2].range], file: file, line: line)
    }

    func testNonFiniteUploadIsRejected() throws {
        let store = try runWithFaultyClient { bytes in
            var values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            values[5] = .nan
            return values.withUnsafeBytes { Array($0) }
        }
        assertRoundTwoRejected(store)
    }

    func testWrongSizeUploadIsRejected() throws {
        assertRoundTwoRejected(try runWithFaultyClient { Array($0.dropLast(8)) })
    }

    func testAbsurdlyLargeUploadIsRejectedWithoutBeingAccepted() throws {
        assertRoundTwoRejected(try runWithFaultyClient { $0 + [UInt8](repeating: 0, count: 1 << 20) })
    }
}

/// A client that claims more training data than it holds would outweigh the others.
final class SampleCountClaimTests: XCTestCase {
    func testInflatedSampleCountIsRejected() throws {
        let settings = TinyRun.settings(rounds: 4, checkpointEvery: 1)
        let corpus = try TinyRun.corpus()
        let headerTag = UploadTag.header(client: 1)
        let (store, _) = try TinyRun.runThreaded(ranks: 3, settings: settings, corpus: corpus) { rank, transport in
            guard rank == 2 else { return }
            transport.tamper = { _, tag, bytes in
                guard tag == headerTag, var header = try? UploadHeader.decode(bytes) else { return bytes }
                header.sampleCount *= 100
                return header.encoded()
            }
        }
        XCTAssertEqual(store.records.map(\.rejectedUploads), [0, 1, 0, 0])
    }
}
