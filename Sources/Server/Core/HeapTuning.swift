import CHeap

/// How the appliance asks the C heap to keep its memory, tuned for many idle connections.
///
/// A large message (a 30 KB thumbnail) passes through buffers of 16 KiB and more: the frame it is
/// reassembled in, the records it arrives in. Carved from glibc's heap, such a buffer stays resident in
/// the heap's free lists after it is freed, in memory that each connection's next small allocations
/// then pin; mapped on its own, it goes back to the kernel when freed. glibc maps only above its mmap
/// threshold (128 KiB, rising as mapped buffers are freed), so the appliance fixes the threshold at
/// 16 KiB; smaller allocations, the great majority, stay in the heap where they are cheaper. With
/// 1,000 and 5,000 clients after one thumbnail each: 15.7 and 14.4 KiB per client with it, 26.2 and
/// 19.4 without (session 13, `Benchmarks/scale.sh --no-build --no-peers --counts "1000 5000"`, the
/// second with `apply()`'s call in `Appliance` removed for the run; idle, 11.6 and 10.4 with it, 11.8
/// and 10.4 without). docs/performance.md has the history.
///
/// The kernel merges adjacent mappings, so the number of mappings stays far below its limit of 65,530
/// (`vm.max_map_count`); `Benchmarks/scale.sh` records it (`maps`, `mapsAfterThumbnail`).
public enum HeapTuning {
    /// The size from which allocations are mapped on their own.
    public static let mmapThreshold: Int32 = 16 * 1024

    /// Applies the tuning; call once, early. Returns whether the C library took it.
    @discardableResult
    public static func apply() -> Bool {
        jump_heap_set_mmap_threshold(mmapThreshold) == 1
    }
}
