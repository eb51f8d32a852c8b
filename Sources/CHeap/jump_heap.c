#include <stdlib.h>

#include "jump_heap.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int jump_heap_set_mmap_threshold(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}
