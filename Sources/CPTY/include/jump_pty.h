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

/// Starts `path` with `argv` and `envp` and a pipe for its output: descriptor 0 is /dev/null, 1 the
/// pipe's write end (and 2 as well when `merge_standard_error` is not 0, otherwise the agent's own 2),
/// every descriptor from 3 up closed, every signal back to its default disposition, an empty signal
/// mask, and `directory` (when not NULL) as the working directory. `output` gets the read end
/// (blocking, close-on-exec); the caller reads it to the end and reaps `pid` with jump_wait_child.
int jump_spawn_piped(pid_t *pid, int *output, const char *path, char *const argv[], char *const envp[],
                     const char *directory, int merge_standard_error);

/// waitpid(2) for `pid`, again after EINTR: `exit_status` is its exit status, or -1 when a signal
/// ended it, and then `signal` is that signal (otherwise 0).
int jump_wait_child(pid_t pid, int *exit_status, int *signal);

/// poll(2) on two descriptors (a negative one is ignored), with what happened on each in `revents0` and
/// `revents1` (0 when poll timed out or failed). Returns poll's result; errno is poll's when it is -1.
/// Swift reads no field of `struct pollfd`: Glibc's module and NIO's CNIOLinux both include <poll.h>,
/// and which one owns the structure can change from one clean build to the next, which breaks member
/// import visibility.
int jump_poll_pair(int fd0, short events0, int fd1, short events1, int timeout, short *revents0, short *revents1);

#endif
