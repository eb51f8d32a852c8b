#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "jump_heap.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__linux__)
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int jump_heap_set_mmap_threshold(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

#if defined(__linux__) && defined(SYS_userfaultfd)

// Newer than some distributions' kernel headers (Linux 6.7).
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

int jump_uffd_open_async_wp(void) {
    int descriptor = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (descriptor < 0) return -errno;
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
    if (ioctl(descriptor, UFFDIO_API, &api) != 0) {
        int error = errno;
        close(descriptor);
        return -error;
    }
    return descriptor;
}

int jump_uffd_offers_async_wp(void) {
    int descriptor = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (descriptor < 0) return -errno;
    // Features 0: the kernel answers with every feature it has.
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    int result = ioctl(descriptor, UFFDIO_API, &api) == 0 ? (api.features & UFFD_FEATURE_WP_ASYNC) != 0 : -errno;
    close(descriptor);
    return result;
}

int jump_uffd_register_wp(int descriptor, void *start, size_t length) {
    struct uffdio_register registration = {
        .range = {.start = (__u64)(uintptr_t)start, .len = (__u64)length},
        .mode = UFFDIO_REGISTER_MODE_WP,
    };
    return ioctl(descriptor, UFFDIO_REGISTER, &registration) == 0 ? 0 : -errno;
}

#else

int jump_uffd_open_async_wp(void) { return -ENOSYS; }

int jump_uffd_offers_async_wp(void) { return -ENOSYS; }

int jump_uffd_register_wp(int descriptor, void *start, size_t length) {
    (void)descriptor;
    (void)start;
    (void)length;
    return -ENOSYS;
}

#endif
