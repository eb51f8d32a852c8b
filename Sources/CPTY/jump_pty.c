#define _GNU_SOURCE
#include "jump_pty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
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

// Spawn attributes that reset what the agent changed for itself: every signal back to its default
// disposition (the Swift runtime and NIO ignore SIGPIPE, and ignored signals survive exec) and an
// empty mask, with `flags` added. Destroyed again when it fails.
static int jump_spawn_attributes(posix_spawnattr_t *attributes, short flags) {
    int error = posix_spawnattr_init(attributes);
    if (error != 0) return error;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    error = posix_spawnattr_setsigdefault(attributes, &all);
    if (error == 0) error = posix_spawnattr_setsigmask(attributes, &none);
    if (error == 0) error = posix_spawnattr_setflags(attributes, flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (error != 0) posix_spawnattr_destroy(attributes);
    return error;
}

int jump_pty_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                   const char *slave_path, int master, const char *directory) {
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_t actions;
    int error = jump_spawn_attributes(&attributes, POSIX_SPAWN_SETSID);
    if (error != 0) return error;
    error = posix_spawn_file_actions_init(&actions);
    if (error != 0) {
        posix_spawnattr_destroy(&attributes);
        return error;
    }
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

int jump_spawn_piped(pid_t *pid, int *output, const char *path, char *const argv[], char *const envp[],
                     const char *directory, int merge_standard_error) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return errno;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_t actions;
    int error = jump_spawn_attributes(&attributes, 0);
    if (error == 0) {
        error = posix_spawn_file_actions_init(&actions);
        if (error != 0) posix_spawnattr_destroy(&attributes);
    }
    if (error != 0) {
        close(fds[0]);
        close(fds[1]);
        return error;
    }
    // The write end first, in case the agent runs with descriptor 0, 1 or 2 closed and the pipe took one.
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    if (error == 0 && merge_standard_error) error = posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (error == 0) error = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (error == 0) error = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (error == 0 && directory != NULL) error = posix_spawn_file_actions_addchdir_np(&actions, directory);
    if (error == 0) error = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(fds[1]);
    if (error != 0) {
        close(fds[0]);
        return error;
    }
    *output = fds[0];
    return 0;
}

int jump_wait_child(pid_t pid, int *exit_status, int *signal) {
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) return errno;
    *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return 0;
}

int jump_poll_pair(int fd0, short events0, int fd1, short events1, int timeout, short *revents0, short *revents1) {
    struct pollfd descriptors[2] = {{.fd = fd0, .events = events0}, {.fd = fd1, .events = events1}};
    int ready = poll(descriptors, 2, timeout);
    *revents0 = ready > 0 ? descriptors[0].revents : 0;
    *revents1 = ready > 0 ? descriptors[1].revents : 0;
    return ready;
}
