// Pseudo-terminals and spawning a process on one. glibc declares posix_openpt, POSIX_SPAWN_SETSID and
// posix_spawn_file_actions_addclosefrom_np only under _GNU_SOURCE, and ioctl is variadic, so Swift
// reaches them through these functions. Every function returns 0 on success and an errno value on
// failure; none of them leaves a descriptor open when it fails.
#ifndef JUMP_PTY_H
#define JUMP_PTY_H

#include <stddef.h>
#include <sys/types.h>

/// Opens a new pty master (O_RDWR, O_NOCTTY, O_CLOEXEC, then O_NONBLOCK), grants and unlocks its slave, and writes the
/// slave's path into `slave_path`.
int jump_pty_open(int *master, char *slave_path, size_t slave_path_length);

/// Opens the slave at `path` in this process (O_RDWR, O_NOCTTY, O_CLOEXEC), so that the master does not
/// report a hang-up before the child has opened it.
int jump_pty_open_slave(const char *path, int *slave);

/// Sets the window size with TIOCSWINSZ; on a master, the slave's foreground process group gets SIGWINCH.
int jump_pty_set_window_size(int fd, unsigned short rows, unsigned short columns);

/// Reads the window size with TIOCGWINSZ.
int jump_pty_get_window_size(int fd, unsigned short *rows, unsigned short *columns);

/// Starts `path` with `argv` and `envp` as the leader of a new session whose controlling terminal is the
/// slave at `slave_path`: posix_spawn with POSIX_SPAWN_SETSID, every signal back to its default
/// disposition, an empty signal mask, the master closed, the slave opened (without O_NOCTTY) as
/// descriptor 0 and duplicated to 1 and 2, every descriptor from 3 up closed, and `directory` (when not
/// NULL) as the working directory. No fork(): glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK).
int jump_pty_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                   const char *slave_path, int master, const char *directory);

/// A pipe whose two ends are non-blocking and close-on-exec (pipe2), for waking a poll loop.
int jump_pty_wake_pipe(int fds[2]);

#endif
