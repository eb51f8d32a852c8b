#include "jump_logind.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#define LOGIND "org.freedesktop.login1"
#define SESSION_INTERFACE "org.freedesktop.login1.Session"

static void copy(char *target, size_t size, const char *source) {
    if (size == 0) return;
    snprintf(target, size, "%s", source ? source : "");
}

static int fail(char *error, size_t length, const char *what, int code, const sd_bus_error *bus_error) {
    snprintf(error, length, "%s: %s", what,
             bus_error && bus_error->message ? bus_error->message : strerror(code < 0 ? -code : code));
    return code < 0 ? code : -code;
}

// Connects to `address`, or without one to the system bus (`session` 0) or this process's session bus.
static int open_bus(const char *address, int session, sd_bus **bus) {
    if (!address) return session ? sd_bus_open_user(bus) : sd_bus_open_system(bus);
    int r = sd_bus_new(bus);
    if (r < 0) return r;
    r = sd_bus_set_address(*bus, address);
    if (r >= 0) r = sd_bus_set_bus_client(*bus, 1);
    if (r >= 0) r = sd_bus_start(*bus);
    if (r < 0) {
        sd_bus_unref(*bus);
        *bus = NULL;
    }
    return r;
}

// What the console code needs of one logind session.
typedef struct {
    char name[256];
    char type[32];
    char class_[32];
    char display[64];
    int remote;
    int locked;
    unsigned uid;
} session_properties;

// One string property's value from a{sv}'s current entry, whose value has `contents`.
static int read_string(sd_bus_message *reply, const char *contents, char *target, size_t size) {
    if (strcmp(contents, "s") != 0) return sd_bus_message_skip(reply, "v");
    const char *value = NULL;
    int r = sd_bus_message_read(reply, "v", "s", &value);
    if (r >= 0) copy(target, size, value);
    return r;
}

static int read_bool(sd_bus_message *reply, const char *contents, int *target) {
    if (strcmp(contents, "b") != 0) return sd_bus_message_skip(reply, "v");
    int value = 0;
    int r = sd_bus_message_read(reply, "v", "b", &value);
    if (r >= 0) *target = value ? 1 : 0;
    return r;
}

// A session's properties in one call (Properties.GetAll): asking for each one was a round trip
// through the bus daemon apiece, about 13 a report. Properties it cannot read stay empty.
static void read_session(sd_bus *bus, const char *path, session_properties *properties) {
    memset(properties, 0, sizeof(*properties));
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(bus, LOGIND, path, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply, "s",
                               SESSION_INTERFACE);
    if (r >= 0) r = sd_bus_message_enter_container(reply, 'a', "{sv}");
    while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
        const char *key = NULL, *contents = NULL;
        r = sd_bus_message_read(reply, "s", &key);
        if (r >= 0) r = sd_bus_message_peek_type(reply, NULL, &contents);
        if (r < 0) break;
        if (strcmp(key, "Name") == 0) r = read_string(reply, contents, properties->name, sizeof(properties->name));
        else if (strcmp(key, "Type") == 0) r = read_string(reply, contents, properties->type, sizeof(properties->type));
        else if (strcmp(key, "Class") == 0) r = read_string(reply, contents, properties->class_, sizeof(properties->class_));
        else if (strcmp(key, "Display") == 0) r = read_string(reply, contents, properties->display, sizeof(properties->display));
        else if (strcmp(key, "Remote") == 0) r = read_bool(reply, contents, &properties->remote);
        else if (strcmp(key, "LockedHint") == 0) r = read_bool(reply, contents, &properties->locked);
        else if (strcmp(key, "User") == 0 && strcmp(contents, "(uo)") == 0) {
            uint32_t uid = 0;
            const char *user_path = NULL;
            r = sd_bus_message_read(reply, "v", "(uo)", &uid, &user_path);
            if (r >= 0) properties->uid = uid;
        } else r = sd_bus_message_skip(reply, "v");
        if (r >= 0) r = sd_bus_message_exit_container(reply);
    }
    sd_bus_message_unref(reply);
    sd_bus_error_free(&error);
}

int jump_logind_console(const char *bus_address, jump_console *console, char *error, size_t error_length) {
    memset(console, 0, sizeof(*console));
    sd_bus *bus = NULL;
    sd_bus_error bus_error = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = open_bus(bus_address, 0, &bus);
    if (r < 0) return fail(error, error_length, "cannot connect to the system bus", r, NULL);

    // The active session on seat0.
    const char *session_id = NULL, *session_path = NULL;
    char active_path[256] = "";
    session_properties active;
    memset(&active, 0, sizeof(active));
    r = sd_bus_get_property(bus, LOGIND, "/org/freedesktop/login1/seat/seat0", "org.freedesktop.login1.Seat",
                            "ActiveSession", &bus_error, &reply, "(so)");
    if (r < 0) {
        // No seat0 (a server without a console): nobody at the console, not an error. An object that
        // does not exist answers UnknownObject, or UnknownMethod from simpler bus services.
        if (sd_bus_error_has_name(&bus_error, "org.freedesktop.DBus.Error.UnknownObject")
            || sd_bus_error_has_name(&bus_error, "org.freedesktop.DBus.Error.UnknownMethod")
            || sd_bus_error_has_name(&bus_error, "org.freedesktop.login1.NoSuchSeat")) {
            sd_bus_error_free(&bus_error);
            sd_bus_unref(bus);
            return 0;
        }
        r = fail(error, error_length, "cannot read seat0's active session from logind", r, &bus_error);
        sd_bus_error_free(&bus_error);
        sd_bus_unref(bus);
        return r;
    }
    if (sd_bus_message_read(reply, "(so)", &session_id, &session_path) >= 0 && session_path
        && strcmp(session_path, "/") != 0) {
        console->has_active_session = 1;
        copy(active_path, sizeof(active_path), session_path);
        read_session(bus, session_path, &active);
        copy(console->active_user, sizeof(console->active_user), active.name);
        copy(console->active_type, sizeof(console->active_type), active.type);
        copy(console->active_class, sizeof(console->active_class), active.class_);
        copy(console->active_display, sizeof(console->active_display), active.display);
        console->active_remote = active.remote;
        console->active_locked = active.locked;
        console->active_uid = active.uid;
    }
    sd_bus_message_unref(reply);
    reply = NULL;
    sd_bus_error_free(&bus_error);

    // A user session on seat0, active or not.
    r = sd_bus_call_method(bus, LOGIND, "/org/freedesktop/login1", "org.freedesktop.login1.Manager", "ListSessions",
                           &bus_error, &reply, "");
    if (r >= 0 && sd_bus_message_enter_container(reply, 'a', "(susso)") >= 0) {
        const char *id, *user, *seat, *path;
        uint32_t uid;
        while (sd_bus_message_read(reply, "(susso)", &id, &uid, &user, &seat, &path) > 0) {
            if (strcmp(seat, "seat0") != 0) continue;
            int is_active = console->has_active_session && strcmp(path, active_path) == 0;
            if (console->seat_user[0] && !is_active) continue;  // prefer the active one
            session_properties session;
            if (is_active) session = active;  // asked already
            else read_session(bus, path, &session);
            if (strcmp(session.class_, "user") != 0) continue;
            copy(console->seat_user, sizeof(console->seat_user), user);
            console->seat_uid = uid;
            copy(console->seat_type, sizeof(console->seat_type), session.type);
            copy(console->seat_display, sizeof(console->seat_display), session.display);
            console->seat_locked = session.locked;
        }
    }
    sd_bus_message_unref(reply);
    sd_bus_error_free(&bus_error);
    sd_bus_unref(bus);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// The desktop's screen saver on a session bus

int jump_session_screen_saver(const char *bus_address, unsigned timeout_ms, char *service, size_t service_length,
                              char *error, size_t error_length) {
    // GNOME answers only its own name (org.freedesktop.ScreenSaver.GetActive returns NotSupported
    // there), KDE the freedesktop one, which some desktops export at /ScreenSaver.
    static const struct { const char *name, *path, *interface; } services[] = {
        {"org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", "org.gnome.ScreenSaver"},
        {"org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver"},
        {"org.freedesktop.ScreenSaver", "/ScreenSaver", "org.freedesktop.ScreenSaver"},
        {"org.xfce.ScreenSaver", "/org/xfce/ScreenSaver", "org.xfce.ScreenSaver"},
    };
    copy(service, service_length, "");
    sd_bus *bus = NULL;
    int r = open_bus(bus_address, 1, &bus);
    if (r < 0) return fail(error, error_length, "cannot connect to the session bus", r, NULL);
    sd_bus_set_method_call_timeout(bus, (uint64_t)timeout_ms * 1000);

    int result = -ENOENT;
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]) && result == -ENOENT; i++) {
        sd_bus_error bus_error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int active = 0;
        // No auto-start: asking must never launch a desktop's screen saver on the user's bus.
        sd_bus_message *call = NULL;
        r = sd_bus_message_new_method_call(bus, &call, services[i].name, services[i].path, services[i].interface,
                                           "GetActive");
        if (r >= 0) r = sd_bus_message_set_auto_start(call, 0);
        if (r >= 0) r = sd_bus_call(bus, call, 0, &bus_error, &reply);
        sd_bus_message_unref(call);
        if (r >= 0 && sd_bus_message_read(reply, "b", &active) >= 0) {
            result = active ? 1 : 0;
            copy(service, service_length, services[i].name);
        } else if (r == -ETIMEDOUT) {
            result = fail(error, error_length, services[i].name, r, &bus_error);
        }
        // Any other failure (no such name, object or method, NotSupported): try the next service.
        sd_bus_message_unref(reply);
        sd_bus_error_free(&bus_error);
    }
    sd_bus_unref(bus);
    if (result == -ENOENT) copy(error, error_length, "no screen saver service on the session bus");
    return result;
}
