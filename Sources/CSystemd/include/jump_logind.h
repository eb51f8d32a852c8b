// The console's logind state, read over D-Bus with libsystemd's sd-bus. One C entry point, so Swift
// never holds a bus or a message pointer.
#ifndef JUMP_LOGIND_H
#define JUMP_LOGIND_H

#include <stddef.h>

typedef struct {
    /// 1 when seat0 has an active session.
    int has_active_session;
    /// The active session's properties.
    char active_user[256];
    char active_type[32];    // "x11", "wayland", "tty", "mir", "unspecified"
    char active_class[32];   // "user", "greeter", "lock-screen", "background"
    char active_display[64]; // X11 display of the session, e.g. ":0"
    unsigned active_uid;
    int active_remote;
    int active_locked;       // LockedHint
    /// A user-class session on seat0, active or not (behind a greeter that locks, for example).
    char seat_user[256];
    unsigned seat_uid;
    char seat_type[32];
    char seat_display[64];
    int seat_locked;
} jump_console;

/// Fills `console` from logind. `bus_address` is a D-Bus address for tests, or NULL for the system bus.
/// Returns 0, or a negative errno with a message in `error`.
int jump_logind_console(const char *bus_address, jump_console *console, char *error, size_t error_length);

/// Asks the desktop's screen saver on a user's session bus whether it runs: GNOME's
/// org.gnome.ScreenSaver, KDE's and others' org.freedesktop.ScreenSaver, Xfce's org.xfce.ScreenSaver, in
/// that order, each method call bounded by `timeout_ms`. `bus_address` NULL means the session bus of
/// this process ($DBUS_SESSION_BUS_ADDRESS). Returns 1 (active) or 0 (not active) with the service that
/// answered in `service`; -ENOENT when no screen saver service is on the bus; another negative errno
/// with a message in `error`.
int jump_session_screen_saver(const char *bus_address, unsigned timeout_ms, char *service, size_t service_length,
                              char *error, size_t error_length);

#endif
