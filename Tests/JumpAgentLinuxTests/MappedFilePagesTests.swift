import Foundation
import Glibc
import JumpAgentCore
import Testing

@testable import JumpAgentLinux

/// The parser on text in the kernel's format, and a release in this process on mappings of a real file
/// made for the test: the clean one loses its resident pages and still reads the file; the one with a
/// private copy (as relocated data has) keeps it.
struct MappedFilePagesTests {
    static let smaps = """
        55d0c0a00000-55d0c1f00000 r-xp 00200000 fd:00 1311  /opt/jump/bin/jump-agent
        Size:              21504 kB
        Rss:               19876 kB
        Anonymous:             0 kB
        Locked:                0 kB
        VmFlags: rd ex mr mw me dw
        55d0c1f00000-55d0c2000000 r--p 01700000 fd:00 1311  /opt/jump/bin/jump-agent
        Rss:                1024 kB
        Anonymous:           992 kB
        Locked:                0 kB
        55d0c2000000-55d0c2010000 rw-p 01800000 fd:00 1311  /opt/jump/bin/jump-agent
        Rss:                  64 kB
        Anonymous:            12 kB
        55d0c3000000-55d0c3100000 rw-p 00000000 00:00 0  [heap]
        Rss:                 800 kB
        Anonymous:           800 kB
        7f0000000000-7f0000100000 r--p 00000000 fd:00 77  /usr/lib/locale/a locale with spaces
        Rss:                  16 kB
        Anonymous:             0 kB
        Locked:                0 kB
        7f0000200000-7f0000300000 r-xp 00000000 fd:00 78  /usr/lib/x86_64-linux-gnu/libc.so.6
        Rss:                1600 kB
        Anonymous:             0 kB
        Locked:             1600 kB
        7f0000400000-7f0000500000 r--p 00000000 fd:00 79  /usr/lib/x86_64-linux-gnu/libm.so.6
        Rss:                   0 kB
        Anonymous:             0 kB
        7f0000600000-7f0000601000 r-xp 00000000 00:00 0  [vdso]
        Rss:                   4 kB
        Anonymous:             0 kB
        7f0000700000-7f0000800000 r--p 00000000 00:00 0
        Rss:                   8 kB
        Anonymous:             0 kB
        not a line of smaps
        """

    @Test func parsesEveryMappingAndItsSizes() {
        let mappings = MappedFilePages.mappings(smaps: Self.smaps[...])
        #expect(mappings.count == 9)
        #expect(mappings[0] == .init(start: 0x55d0_c0a0_0000, end: 0x55d0_c1f0_0000, permissions: "r-xp", path: "/opt/jump/bin/jump-agent", residentKiB: 19876))
        #expect(mappings[1].anonymousKiB == 992)
        #expect(mappings[4].path == "/usr/lib/locale/a locale with spaces")
        #expect(mappings[5].lockedKiB == 1600)
        #expect(mappings[8].path == "")
    }

    @Test func releasesOnlyCleanReadOnlyFilePages() {
        let releasable = MappedFilePages.mappings(smaps: Self.smaps[...]).filter(\.isReleasable).map(\.path)
        // Not: relocated data (private copies), writable data, the heap, locked libc, libm with nothing
        // resident, the vDSO, anonymous memory.
        #expect(releasable == ["/opt/jump/bin/jump-agent", "/usr/lib/locale/a locale with spaces"])
        // The program's data: writable, 52 KiB of its 64 still the file's, paged out page by page.
        let paged = MappedFilePages.mappings(smaps: Self.smaps[...]).filter(\.hasCleanFilePages).map(\.permissions)
        #expect(paged == ["rw-p"])
    }

    @Test func pagemapTellsPrivateCopiesFromFilePages() {
        #expect(MappedFilePages.isPrivateCopy(1 << 63))  // present, anonymous
        #expect(MappedFilePages.isPrivateCopy(1 << 62))  // swapped out
        #expect(!MappedFilePages.isPrivateCopy(1 << 63 | 1 << 61))  // present, the file's page
        #expect(!MappedFilePages.isPrivateCopy(0))  // not present
    }

    @Test func aReleaseDropsCleanPagesAndKeepsPrivateCopies() throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = 256 * pageSize
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-pages-\(getpid()).bin").path
        defer { unlink(path) }
        let content = (0..<length).map { UInt8(truncatingIfNeeded: $0 / pageSize &* 7 &+ $0) }
        try Data(content).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        // Written back now: a page under write-back later is locked for a moment, and fault-around
        // skips locked pages, which the contrast below must not meet.
        #expect(fsync(descriptor) == 0)

        // A clean mapping, every page read; and one whose first page this process wrote, then made
        // read-only again, as the loader does with relocated data.
        let clean = try #require(mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, 0))
        #expect(clean != MAP_FAILED)
        defer { munmap(clean, length) }
        let copied = try #require(mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0))
        #expect(copied != MAP_FAILED)
        defer { munmap(copied, length) }
        var sum = 0
        for offset in stride(from: 0, to: length, by: pageSize) { sum &+= Int(clean.load(fromByteOffset: offset, as: UInt8.self)) }
        #expect(sum != 0)
        copied.storeBytes(of: 0xA5, toByteOffset: 1, as: UInt8.self)
        #expect(mprotect(copied, length, PROT_READ) == 0)
        // And a writable one of another file (page-out leaves pages another mapping shares), as the
        // program's data is: every page read, two written.
        let dataPath = path + ".data"
        defer { unlink(dataPath) }
        try Data(content).write(to: URL(fileURLWithPath: dataPath))
        let dataDescriptor = open(dataPath, O_RDONLY | O_CLOEXEC)
        #expect(dataDescriptor >= 0)
        defer { close(dataDescriptor) }
        let data = try #require(mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, dataDescriptor, 0))
        #expect(data != MAP_FAILED)
        defer { munmap(data, length) }
        for offset in stride(from: 0, to: length, by: pageSize) { sum &+= Int(data.load(fromByteOffset: offset, as: UInt8.self)) }
        data.storeBytes(of: 0x5A, toByteOffset: 3, as: UInt8.self)
        data.storeBytes(of: 0x5B, toByteOffset: 100 * pageSize + 3, as: UInt8.self)

        func mapping(at address: UnsafeMutableRawPointer) throws -> MappedFilePages.Mapping {
            let text = try #require(readWhole("/proc/self/smaps"))
            return try #require(MappedFilePages.mappings(smaps: Substring(decoding: text, as: UTF8.self)).first { $0.start == UInt(bitPattern: address) })
        }
        #expect(try mapping(at: clean).residentKiB >= length / 1024)
        #expect(try mapping(at: clean).isReleasable)
        #expect(try !mapping(at: copied).isReleasable)
        #expect(try mapping(at: data).hasCleanFilePages)

        let release = try #require(MappedFilePages.release())
        #expect(release.mappings >= 1)
        #expect(release.residentKiB >= length / 1024)
        #expect(try mapping(at: clean).residentKiB == 0)
        // Registered so that a fault maps the page touched alone, where the kernel can (6.7 and
        // later): one byte read brings back one page. A mapping of the same file made after the
        // release is not registered, and the same read there maps the cached pages around it too
        // (fault-around). Where the kernel cannot, the release went on without it.
        if MappedFilePages.kernelOffersSinglePageFaults {
            #expect(release.singlePageError == nil)
            // One byte in each of three 64 KiB windows.
            let offsets = [50, 120, 200].map { $0 * pageSize + 9 }
            let later = try #require(mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, 0))
            #expect(later != MAP_FAILED)
            defer { munmap(later, length) }
            for offset in offsets { #expect(later.load(fromByteOffset: offset, as: UInt8.self) == content[offset]) }
            #expect(try mapping(at: later).residentKiB > offsets.count * pageSize / 1024)
            for offset in offsets { #expect(clean.load(fromByteOffset: offset, as: UInt8.self) == content[offset]) }
            #expect(try mapping(at: clean).residentKiB == offsets.count * pageSize / 1024)
        } else {
            #expect(release.singlePageMappings == 0)
            #expect(release.singlePageError != nil)
        }
        // The clean pages come back from the file; the private copy was not touched.
        #expect(Data(bytes: clean, count: length) == Data(content))
        #expect(copied.load(fromByteOffset: 1, as: UInt8.self) == 0xA5)
        #expect(copied.load(fromByteOffset: 2, as: UInt8.self) == content[2])
        // The data mapping keeps only the two pages it wrote, and their bytes; the rest reads the file.
        let after = try mapping(at: data)
        #expect(after.residentKiB == after.anonymousKiB)
        #expect(after.anonymousKiB == 2 * pageSize / 1024)
        #expect(data.load(fromByteOffset: 3, as: UInt8.self) == 0x5A)
        #expect(data.load(fromByteOffset: 100 * pageSize + 3, as: UInt8.self) == 0x5B)
        #expect(data.load(fromByteOffset: 4, as: UInt8.self) == content[4])
        #expect(data.load(fromByteOffset: 200 * pageSize, as: UInt8.self) == content[200 * pageSize])
    }
}
