#define _GNU_SOURCE
#include "jump_pty.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int jump_pty_open(int *master, char *slave_path, size_t slave_path_length) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return errno;
    int error = 0;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0) {
        error = errno;
    } else {
        error = ptsname_r(fd, slave_path, slave_path_length);
    }
    if (error == 0) {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) error = errno;
    }
    if (error != 0) {
        close(fd);
        return error;
    }
    *master = fd;
    return 0;
}

int jump_pty_open_slave(const char *path, int *slave) {
    int fd;
    do {
        fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    *slave = fd;
    return 0;
}

int jump_pty_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize size = {.ws_row = rows, .ws_col = columns};
    return ioctl(fd, TIOCSWINSZ, &size) == 0 ? 0 : errno;
}

int jump_pty_get_window_size(int fd, unsigned short *rows, unsigned short *columns) {
    struct winsize size = {0};
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return errno;
    *rows = size.ws_row;
    *columns = size.ws_col;
    return 0;
}

int jump_pty_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                   const char *slave_path, int master, const char *directory) {
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_t actions;
    int error = posix_spawnattr_init(&attributes);
    if (error != 0) return error;
    error = posix_spawn_file_actions_init(&actions);
    if (error != 0) {
        posix_spawnattr_destroy(&attributes);
        return error;
    }
    // The agent's own dispositions (SIGPIPE ignored by the Swift runtime and NIO) and mask must not
    // leak into the user's shell: ignored signals survive exec.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (error == 0) error = posix_spawnattr_setsigdefault(&attributes, &all);
    if (error == 0) error = posix_spawnattr_setsigmask(&attributes, &none);
    if (error == 0)
        error = posix_spawnattr_setflags(&attributes,
                                          POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    // The master goes first: if the agent runs with descriptor 0 closed the master may be 0 itself.
    if (error == 0) error = posix_spawn_file_actions_addclose(&actions, master);
    // After setsid, opening a tty without O_NOCTTY makes it the controlling terminal (Linux).
    if (error == 0) error = posix_spawn_file_actions_addopen(&actions, 0, slave_path, O_RDWR, 0);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, 0, 1);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, 0, 2);
    if (error == 0) error = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (error == 0 && directory != NULL) error = posix_spawn_file_actions_addchdir_np(&actions, directory);
    if (error == 0) error = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return error;
}

int jump_pty_wake_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0 ? 0 : errno;
}
