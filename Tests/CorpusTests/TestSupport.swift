import Corpus
import Foundation
import XCTest

/// A fresh temporary folder, removed when the test ends.
func makeTemporaryFolder(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func write(_ text: String, to path: String) throws {
    try write(Array(text.utf8), to: path)
}

/// Distinct-looking byte tokens, so a window's position in the text can be checked by content.
func sampleText(_ count: Int, salt: Int = 0) -> [TokenID] {
    (0..<count).map { TokenID(($0 &* 31 &+ salt &* 7 &+ $0 / 256) % 251) }
}

extension TokenData {
    /// The text (empty for rows), to compare with the tokens a text partition should give.
    var text: [TokenID] {
        guard case .text(let tokens) = self else { return [] }
        return tokens
    }

    /// The rows (nil for text), to check what an instruction partition gives.
    var rows: TokenRows? {
        guard case .rows(let rows) = self else { return nil }
        return rows
    }
}

let fortunesFolder = "/usr/share/games/fortunes"
