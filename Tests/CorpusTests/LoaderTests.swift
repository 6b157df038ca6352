import Corpus
import Foundation
import XCTest

final class LoaderTests: XCTestCase {
    func testFortunesFolderGivesTheCategoryTextFilesOnly() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: fortunesFolder), "fortunes not installed")
        let documents = try CorpusLoader.load(path: fortunesFolder)
        let names = documents.map(\.name)
        XCTAssertEqual(documents.count, 43)
        XCTAssertEqual(Set(names).count, names.count, "duplicate documents")
        XCTAssertFalse(names.contains { $0.hasSuffix(".dat") }, "binary index loaded")
        XCTAssertFalse(names.contains { $0.hasSuffix(".u8") }, ".u8 link duplicated a category")
        XCTAssertEqual(names, names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        XCTAssertTrue(names.contains("art") && names.contains("zippy"))
        for document in documents {
            XCTAssertFalse(document.tokens.isEmpty, document.name)
            XCTAssertFalse(document.tokens.contains(0), "\(document.name) has a NUL byte")
        }
        let art = try Data(contentsOf: URL(fileURLWithPath: fortunesFolder + "/art"))
        XCTAssertEqual(documents.first { $0.name == "art" }?.tokens, [UInt8](art).map { TokenID($0) })
    }

    func testMissingPathThrowsMissingWithOneLineRemedy() throws {
        let path = "/nonexistent/corpus-\(UUID().uuidString)"
        XCTAssertThrowsError(try CorpusLoader.load(path: path)) { error in
            XCTAssertEqual(error as? CorpusError, .missing(path: path))
            let message = String(describing: error)
            XCTAssertTrue(message.contains(path))
            XCTAssertTrue(message.contains("apt-get install fortunes"))
            XCTAssertFalse(message.contains("\n"))
        }
    }

    func testEmptyFolderThrowsEmpty() throws {
        let folder = try makeTemporaryFolder(self)
        XCTAssertThrowsError(try CorpusLoader.load(path: folder)) { error in
            XCTAssertEqual(error as? CorpusError, .empty(path: folder))
            XCTAssertFalse(String(describing: error).contains("\n"))
        }
    }

    func testFolderOfOnlyUnusableFilesThrowsEmpty() throws {
        let folder = try makeTemporaryFolder(self)
        try write([0x41, 0, 0x42], to: folder + "/index.dat")
        try write("hidden text", to: folder + "/.hidden")
        try write([UInt8](), to: folder + "/blank")
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: false)
        try write("nested text is not read", to: folder + "/sub/inner")
        XCTAssertThrowsError(try CorpusLoader.load(path: folder)) { error in
            XCTAssertEqual(error as? CorpusError, .empty(path: folder))
        }
    }

    func testSingleFileCorpus() throws {
        let folder = try makeTemporaryFolder(self)
        let bytes = ByteTokenizer.encode("Q: Why?\nA: Because. — ünïcode\n%\n")
        try write(bytes, to: folder + "/only.txt")
        let documents = try CorpusLoader.load(path: folder + "/only.txt")
        XCTAssertEqual(documents, [TextDocument(name: "only.txt", bytes: bytes)])
    }

    func testSingleBinaryFileThrowsEmpty() throws {
        let folder = try makeTemporaryFolder(self)
        try write([1, 2, 0, 3], to: folder + "/blob")
        XCTAssertThrowsError(try CorpusLoader.load(path: folder + "/blob")) { error in
            XCTAssertEqual(error as? CorpusError, .empty(path: folder + "/blob"))
        }
    }

    func testFolderSkipsBinaryHiddenAndSiblingLinksButFollowsOutsideLinks() throws {
        let folder = try makeTemporaryFolder(self)
        let outside = try makeTemporaryFolder(self)
        let fm = FileManager.default
        try write("bravo\n", to: folder + "/b")
        try write("alpha\n", to: folder + "/a")
        try write([0x41, 0x00], to: folder + "/a.dat")
        try fm.createSymbolicLink(atPath: folder + "/a.u8", withDestinationPath: "a")
        try fm.createSymbolicLink(atPath: folder + "/zz-dangling", withDestinationPath: "does-not-exist")
        try write("secret\n", to: folder + "/.hidden")
        // A link to a sibling is skipped even when the sibling itself was skipped (here: hidden).
        try fm.createSymbolicLink(atPath: folder + "/visible", withDestinationPath: ".hidden")
        try write("charlie\n", to: outside + "/c")
        try fm.createSymbolicLink(atPath: folder + "/c-link", withDestinationPath: outside + "/c")
        try fm.createSymbolicLink(atPath: folder + "/c-link2", withDestinationPath: outside + "/c")

        let documents = try CorpusLoader.load(path: folder)
        XCTAssertEqual(documents.map(\.name), ["a", "b", "c-link"])
        XCTAssertEqual(documents.map { ByteTokenizer().decode($0.tokens) }, ["alpha\n", "bravo\n", "charlie\n"])
    }

    func testHardLinkToALoadedFileIsNotReadTwice() throws {
        let folder = try makeTemporaryFolder(self)
        try write("once\n", to: folder + "/a")
        try FileManager.default.linkItem(atPath: folder + "/a", toPath: folder + "/b")
        XCTAssertEqual(try CorpusLoader.load(path: folder).map(\.name), ["a"])
    }
}

final class ByteTokenizerTests: XCTestCase {
    func testEncodeIsUTF8BytesAndDecodeRoundTrips() {
        let text = "héllo, wörld — 🙂"
        let tokens = ByteTokenizer.encode(text)
        XCTAssertEqual(tokens, Array(text.utf8))
        XCTAssertEqual(tokens.count, 23)
        XCTAssertEqual(ByteTokenizer.decode(tokens), text)
        XCTAssertEqual(ByteTokenizer.vocabSize, 256)
    }

    func testDecodeToleratesInvalidUTF8() {
        let decoded = ByteTokenizer.decode([0x41, 0xFF, 0xC3, 0x42])
        XCTAssertEqual(decoded, "A\u{FFFD}\u{FFFD}B")
    }
}
