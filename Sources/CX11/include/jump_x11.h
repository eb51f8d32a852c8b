// The console's X11 display: its screen-saver state and a downscaled picture of every monitor.
// Plain C over Xlib, XRandR, the MIT screen-saver extension and MIT-SHM, so Swift never holds an Xlib
// pointer. Every call blocks on the X server: call from a thread that may block (the agent calls it in
// a short-lived helper process that runs as the console user).
#ifndef JUMP_X11_H
#define JUMP_X11_H

#include <stddef.h>
#include <stdint.h>

typedef struct jump_x11 jump_x11;

/// Opens `display` (e.g. ":0"; NULL for $DISPLAY). Authorisation comes from $XAUTHORITY or the
/// server's access list. Returns NULL with a message in `error` when the display cannot be opened.
jump_x11 *jump_x11_open(const char *display, char *error, size_t error_length);
void jump_x11_close(jump_x11 *x11);

enum {
    JUMP_X11_SAVER_UNKNOWN = -1,  // the server has no MIT-SCREEN-SAVER extension
    JUMP_X11_SAVER_OFF = 0,
    JUMP_X11_SAVER_ON = 1,        // the X server's own saver runs (e.g. after `xset s activate`)
    JUMP_X11_SAVER_DISABLED = 2,  // the X server's saver is disabled
};

enum {
    JUMP_XSCREENSAVER_ABSENT = -1,  // no _SCREENSAVER_STATUS property on the root window
    JUMP_XSCREENSAVER_IDLE = 0,
    JUMP_XSCREENSAVER_BLANKED = 1,
    JUMP_XSCREENSAVER_LOCKED = 2,
};

typedef struct {
    /// XScreenSaverQueryInfo's state: one of JUMP_X11_SAVER_*.
    int extension_state;
    /// Milliseconds since the last input, from XScreenSaverQueryInfo (0 when unknown).
    uint64_t idle_ms;
    /// xscreensaver's `_SCREENSAVER_STATUS` root property: one of JUMP_XSCREENSAVER_*.
    int xscreensaver;
} jump_x11_saver;

/// Reads both screen-saver sources. Returns 0, or -1 with a message in `error`.
int jump_x11_screen_saver(jump_x11 *x11, jump_x11_saver *saver, char *error, size_t error_length);

typedef struct {
    /// RGB, 3 bytes a pixel, rows packed (stride width * 3). Free with jump_x11_free_picture.
    uint8_t *pixels;
    int width;
    int height;
    /// The bounding box of the monitors that was captured, in screen pixels.
    int source_x;
    int source_y;
    int source_width;
    int source_height;
    /// How many XRandR monitors were captured (1 when the server has no RandR 1.5: the root window).
    int monitor_count;
    /// 1 when the pixels came through MIT-SHM, 0 through XGetImage.
    int used_shm;
} jump_x11_picture;

/// Captures every XRandR monitor (areas of the screen on no monitor stay black), downscaled with an
/// area average so the larger side is at most `largest_side` (never enlarged). Returns 0, or -1 with a
/// message in `error`; a protocol error from the server is reported, never fatal.
int jump_x11_capture(jump_x11 *x11, int largest_side, jump_x11_picture *picture, char *error, size_t error_length);
void jump_x11_free_picture(jump_x11_picture *picture);

#endif
