@testable import FedCyBGDCLI
import Foundation
import HDF5Store
import XCTest

/// A full quota (EDQUOT) is told like a full disk (ENOSPC), however the library reports it;
/// the end-to-end runs on a full tmpfs are in Tests/python/test_full_disk.py and test_checkpoints.py.
final class DiskFullTests: XCTestCase {
    private let folder = "runs/x"

    func testEveryReportOfAFullDiskOrQuotaIsRecognised() {
        let disk: [Error] = [
            HDF5Error(.failed, file: "h.h5", "closing the file failed (... errno = 28, error message = 'No space left on device' ...)"),
            NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC)),
            CocoaError(.fileWriteOutOfSpace),
            CLIError("cannot create the run folder runs/x: \(FileProblem.describe(errno: ENOSPC)); ..."),
        ]
        let quota: [Error] = [
            HDF5Error(.failed, file: "h.h5", "write failed (errno = 122, error message = 'Disk quota exceeded')"),
            NSError(domain: NSPOSIXErrorDomain, code: Int(EDQUOT)),
            NSError(domain: NSCocoaErrorDomain, code: CocoaError.Code.fileWriteOutOfSpace.rawValue,
                    userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EDQUOT))]),
            CLIError("cannot create the lock file runs/x/.lock: \(FileProblem.describe(errno: EDQUOT)); ..."),
        ]
        for error in disk { XCTAssertEqual(DiskFull.limit(of: error), .disk, "\(error)") }
        for error in quota {
            XCTAssertEqual(DiskFull.limit(of: error), .quota, "\(error)")
            let line = DiskFull.message(for: error, runFolder: folder) ?? ""
            XCTAssertTrue(line.contains("the disk quota holding runs/x is full"), line)
            XCTAssertTrue(DiskFull.setUpMessage(for: error, runFolder: folder, resuming: false)?.contains("could not start") == true)
        }
        for error in [HDF5Error(.corrupt, file: "h.h5", "truncated file"), NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES)),
                      CocoaError(.fileWriteNoPermission)] as [Error] {
            XCTAssertNil(DiskFull.limit(of: error), "\(error)")
        }
    }
}
