import CHeap
import JumpAgentCore
import Glibc
public import Logging

/// Lets go of the program's and its libraries' file pages that start-up mapped, so that the agent's
/// resident memory is what its idle loop uses.
///
/// Why: the kernel maps a program's code as the program touches it, and on each page fault it maps the
/// neighbouring pages already in the page cache as well ("fault-around", 64 KiB by default, more with
/// large folios). Start-up (argument parsing, the configuration, the Swift runtime's first type and
/// conformance lookups, TLS set-up and the handshake, the host facts of the first report) touches code
/// spread over most of a 29 MiB program, so about 22 MiB of it stays mapped for good, though the idle
/// loop (a report a minute) runs a small part of it. Those pages count in VmRSS and in the memory the
/// OOM killer weighs, not only in the page cache.
///
/// What:
/// - `MADV_DONTNEED` on every file-backed mapping that is not writable and holds no private copy of a
///   page (`Anonymous: 0` in /proc/self/smaps): its pages leave this process's page tables and stay in
///   the page cache, shared and clean; the next use faults them in again from there. A read-only
///   mapping with private copies (the relocated read-only data of the program and its libraries, a
///   debugger's breakpoint) is left alone: dropping those copies would bring back the file's bytes.
/// - `MADV_PAGEOUT` on the pages of writable file mappings (the program's data) that are still the
///   file's (/proc/self/pagemap), skipping the ones this process wrote. Page-out is reclaim: the kernel
///   drops a clean page and never loses a written one, so a thread that writes one of them meanwhile
///   loses nothing (without swap the written page stays; with swap it may be swapped out).
/// - Before either, each of those mappings that is private is registered with a userfaultfd in
///   asynchronous write-protect mode (Linux 6.7; arm64 6.10), where available. The registration
///   protects nothing (no page is marked, and the kernel would resolve a write-protect fault itself),
///   but the kernel does not fault around in a registered mapping: the idle loop's next touch of a
///   released page maps that page alone, not the 64 KiB of cached code around it. Without it, the few
///   hundred functions the idle loop runs, spread over the program and its libraries, brought back
///   about 5 MiB of neighbouring code. On an older kernel, or where a filter forbids userfaultfd, the
///   release goes on without it.
public enum MappedFilePages {
    /// One mapping of /proc/self/smaps, with what deciding about it needs.
    public struct Mapping: Equatable, Sendable {
        public var start: UInt
        public var end: UInt
        public var permissions: String
        /// The mapped file; empty for anonymous memory, or the kernel's name in brackets ([heap], [vdso]).
        public var path: String
        public var residentKiB: Int
        /// Pages of a private mapping that this process copied (written, or relocated): not in the file.
        public var anonymousKiB: Int
        public var lockedKiB: Int

        public init(start: UInt, end: UInt, permissions: String, path: String, residentKiB: Int = 0, anonymousKiB: Int = 0, lockedKiB: Int = 0) {
            self.start = start
            self.end = end
            self.permissions = permissions
            self.path = path
            self.residentKiB = residentKiB
            self.anonymousKiB = anonymousKiB
            self.lockedKiB = lockedKiB
        }

        /// A file's pages, read-only, all of them as in the file, some resident, none locked.
        public var isReleasable: Bool {
            path.hasPrefix("/") && !permissions.contains("w") && anonymousKiB == 0 && lockedKiB == 0 && residentKiB > 0
        }

        /// A writable mapping of a file with resident pages that are still the file's, none locked.
        public var hasCleanFilePages: Bool {
            path.hasPrefix("/") && permissions.contains("w") && residentKiB > anonymousKiB && lockedKiB == 0
        }
    }

    /// The mappings in the text of /proc/PID/smaps: a header line per mapping ("start-end perms offset
    /// device inode path"), then its "Field: value kB" lines. Lines it does not understand are skipped.
    public static func mappings(smaps text: Substring) -> [Mapping] {
        var result: [Mapping] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.last == ":" {
                guard !result.isEmpty, fields.count >= 2, let value = Int(fields[1]) else { continue }
                switch first {
                case "Rss:": result[result.count - 1].residentKiB = value
                case "Anonymous:": result[result.count - 1].anonymousKiB = value
                case "Locked:": result[result.count - 1].lockedKiB = value
                default: break
                }
                continue
            }
            let bounds = first.split(separator: "-")
            guard bounds.count == 2, fields.count >= 5, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), start < end else {
                continue
            }
            let path = fields.count == 6 ? fields[5].trimmed(where: { $0 == " " }) : ""
            result.append(Mapping(start: start, end: end, permissions: String(fields[1]), path: path))
        }
        return result
    }

    /// What one release did.
    public struct Release: Equatable, Sendable {
        /// Mappings given to madvise, and the resident KiB of file pages they held before.
        public var mappings: Int
        public var residentKiB: Int
        /// Of those mappings, the ones registered so that their faults map single pages.
        public var singlePageMappings: Int = 0
        /// Why a mapping could not be registered (the first such error); nil when all were.
        public var singlePageError: String?
    }

    /// The userfaultfd released mappings are registered with, opened at the first release and kept
    /// open: closing it would end their registrations. Negative: -errno of the failed open.
    static let singlePageFaults: Int32 = jump_uffd_open_async_wp()

    /// Whether this kernel lets released mappings fault a page at a time (asynchronous write-protect
    /// userfaultfd), asked of a descriptor of its own.
    public static var kernelOffersSinglePageFaults: Bool { jump_uffd_offers_async_wp() == 1 }

    /// Releases on ``BlockingWork``'s thread, off the caller's event loop (reading /proc/self/smaps
    /// takes a millisecond or two), and logs what was released at debug level.
    public static func releaseInBackground(logger: Logger) {
        BlockingWork.submit {
            guard let release = release() else { return }
            logger.debug(
                "released the file pages start-up mapped",
                metadata: [
                    "mappings": "\(release.mappings)", "KiB": "\(release.residentKiB)",
                    "singlePageMappings": "\(release.singlePageMappings)",
                    "singlePageError": "\(release.singlePageError ?? "none")",
                ])
        }
    }

    /// Releases this process's releasable mappings and pages; nil when /proc/self/smaps cannot be read.
    ///
    /// The mappings are a snapshot and the process's other threads go on meanwhile, so each is checked
    /// again just before it is released (`mapsTheSameFile`): `MADV_DONTNEED` on a range that had since
    /// become anonymous memory would zero it. (The agent unmaps no file while it runs; the check narrows
    /// what cannot be closed from user space.)
    @discardableResult
    public static func release() -> Release? {
        guard let bytes = readWhole("/proc/self/smaps") else { return nil }
        var release = Release(mappings: 0, residentKiB: 0)
        let pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        defer { if pagemap >= 0 { close(pagemap) } }
        for mapping in mappings(smaps: Substring(decoding: bytes, as: UTF8.self)) {
            guard let address = UnsafeMutableRawPointer(bitPattern: mapping.start),
                mapping.isReleasable || (mapping.hasCleanFilePages && pagemap >= 0),
                mapsTheSameFile(mapping)
            else { continue }
            let registered = registerForSinglePageFaults(mapping, at: address, errors: &release.singlePageError)
            if mapping.isReleasable {
                guard madvise(address, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 else { continue }
            } else {
                guard pageOutFilePages(of: mapping, pagemap: pagemap) else { continue }
            }
            release.mappings += 1
            release.residentKiB += mapping.residentKiB - mapping.anonymousKiB
            if registered { release.singlePageMappings += 1 }
        }
        return release
    }

    /// Registers a private mapping with `singlePageFaults`; false, with the first error kept in `errors`,
    /// when it cannot be. Shared mappings are left out: registering one turns on write notification,
    /// a fault on the first write to each page.
    static func registerForSinglePageFaults(_ mapping: Mapping, at address: UnsafeMutableRawPointer, errors: inout String?) -> Bool {
        guard mapping.permissions.hasSuffix("p") else { return false }
        let result = singlePageFaults < 0 ? singlePageFaults : jump_uffd_register_wp(singlePageFaults, address, Int(mapping.end - mapping.start))
        if result < 0, errors == nil { errors = String(cString: strerror(-result)) }
        return result == 0
    }

    /// Whether the mapping's range still maps the file smaps named (/proc/self/map_files); true when
    /// that cannot be told (no map_files), false when the range maps nothing now.
    static func mapsTheSameFile(_ mapping: Mapping) -> Bool {
        let link = "/proc/self/map_files/" + String(mapping.start, radix: 16) + "-" + String(mapping.end, radix: 16)
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(link, &target, target.count - 1)
        guard length >= 0 else { return errno != ENOENT }
        return String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) == mapping.path
    }

    /// The kernel's MADV_PAGEOUT (Linux 5.4); Glibc's module may not name it.
    static let pageOutAdvice: Int32 = 21

    /// Pages out the runs of `mapping`'s pages that pagemap does not show as this process's own
    /// (present and not a file page): false when pagemap cannot be read or the kernel refuses.
    static func pageOutFilePages(of mapping: Mapping, pagemap: Int32) -> Bool {
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let pages = Int((mapping.end - mapping.start) / pageSize)
        var entries = [UInt64](repeating: 0, count: pages)
        let wanted = pages * MemoryLayout<UInt64>.size
        let read = entries.withUnsafeMutableBytes { pread(pagemap, $0.baseAddress!, wanted, off_t(mapping.start / pageSize) * 8) }
        guard read == wanted else { return false }
        var ok = true
        var runStart: Int?
        for index in 0...pages {
            let own = index < pages && isPrivateCopy(entries[index])
            if index < pages && !own {
                if runStart == nil { runStart = index }
                continue
            }
            if let start = runStart {
                let address = UnsafeMutableRawPointer(bitPattern: mapping.start + UInt(start) * pageSize)!
                if madvise(address, (index - start) * Int(pageSize), pageOutAdvice) != 0 { ok = false }
                runStart = nil
            }
        }
        return ok
    }

    /// A pagemap entry of a page this process holds as its own: present (bit 63) or swapped (bit 62),
    /// and not a file page (bit 61).
    static func isPrivateCopy(_ entry: UInt64) -> Bool {
        entry & (3 << 62) != 0 && entry & (1 << 61) == 0
    }
}
