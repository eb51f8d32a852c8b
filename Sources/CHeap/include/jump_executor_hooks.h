// Swift concurrency's global-executor hook: a variable of the Swift runtime (swift/Runtime/Concurrency.h
// declares it; SwiftNIO's take-over of the global executor sets it) that no Swift module declares. A
// program linked with --no-export-dynamic, as `make agent`'s is, cannot find it with dlsym, but the
// linker resolves it here, statically or against libswift_Concurrency.so alike.
#ifndef JUMP_EXECUTOR_HOOKS_H
#define JUMP_EXECUTOR_HOOKS_H

extern void *swift_task_enqueueGlobal_hook;

/// Where the runtime keeps the hook: NULL (the default, libdispatch's global queues) or a function
/// (Swift's calling convention) that takes the job and the default implementation.
static inline void **jump_enqueue_global_hook(void) { return &swift_task_enqueueGlobal_hook; }

#endif
