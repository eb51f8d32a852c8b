// Memory knobs that Glibc's Swift module leaves out: mallopt is declared in <malloc.h>, and the
// userfaultfd system call has no libc wrapper (and syscall(2) is variadic). The module's other header,
// jump_executor_hooks.h, reaches the Swift runtime's global-executor hooks.
#ifndef JUMP_HEAP_H
#define JUMP_HEAP_H

#include <stddef.h>

/// Sets glibc's mmap threshold (M_MMAP_THRESHOLD) in bytes: allocations of that size and more are mapped
/// on their own and given back to the kernel when freed. Returns 1 when glibc took it, 0 otherwise (and
/// always 0 on a C library without mallopt).
int jump_heap_set_mmap_threshold(int bytes);

/// Opens a userfaultfd for faults from user mode only (no privilege needed) with asynchronous
/// write-protection (Linux 6.7 on x86_64; arm64 has userfaultfd write-protection from 6.10), under
/// which the kernel resolves write-protect faults itself and no thread has to read the descriptor.
/// Returns the descriptor, or -errno: -EINVAL on a kernel without asynchronous write-protection (or
/// before 5.11, without user-mode-only descriptors), -ENOSYS without userfaultfd, -EPERM under a
/// system call filter that forbids it.
int jump_uffd_open_async_wp(void);

/// Whether the kernel offers asynchronous write-protection: asks a new user-mode-only userfaultfd for
/// its features and closes it. 1 or 0; -errno when no userfaultfd could be opened.
int jump_uffd_offers_async_wp(void);

/// Registers [start, start + length) with `descriptor` in write-protect mode, which writes nothing
/// and protects nothing by itself. What the agent wants of it: the kernel does not "fault around" in a
/// registered mapping, so a fault maps the one page touched instead of up to 16 cached neighbours.
/// The registration lasts while the descriptor is open. Returns 0, or -errno.
int jump_uffd_register_wp(int descriptor, void *start, size_t length);

#endif
