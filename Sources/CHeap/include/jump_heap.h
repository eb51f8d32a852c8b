// The C heap's tuning knobs: mallopt is declared in <malloc.h>, which Glibc's Swift module leaves out.
#ifndef JUMP_HEAP_H
#define JUMP_HEAP_H

/// Sets glibc's mmap threshold (M_MMAP_THRESHOLD) in bytes: allocations of that size and more are mapped
/// on their own and given back to the kernel when freed. Returns 1 when glibc took it, 0 otherwise (and
/// always 0 on a C library without mallopt).
int jump_heap_set_mmap_threshold(int bytes);

#endif
