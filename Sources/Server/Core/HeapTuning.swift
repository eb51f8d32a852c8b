import CHeap

/// How the appliance asks the C heap to keep its memory, tuned for many idle connections.
///
/// Each agent connection owns two buffers of 16 KiB and more (NIOSSL's 32 KiB plaintext buffer and its
/// 16 KiB outbound buffer) of which an idle connection has written a page or so. Carved from glibc's
/// heap, such a buffer sits in memory that earlier, freed allocations already touched, so all of it is
/// resident; and the transient buffers of a large message (a 30 KB thumbnail, the frame that carries
/// it) stay resident in the heap's free lists after they are freed. Mapped on its own instead, a buffer
/// costs only the pages written to and goes back to the kernel when freed. glibc maps only above its
/// mmap threshold (128 KiB, rising as mapped buffers are freed), so the appliance fixes the threshold
/// at 16 KiB; smaller allocations, the great majority, stay in the heap where they are cheaper.
/// What it saves is in docs/performance.md ("What was changed here").
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
