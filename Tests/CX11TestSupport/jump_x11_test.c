// Test support: draws known pictures into a pixmap and makes it the root window's background, the way
// xsetroot does, so the picture outlives this client's connection (with an X server run with -noreset).

#include "jump_x11_test.h"

#include <X11/Xlib.h>
#include <X11/Xutil.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Records protocol errors instead of letting Xlib end the process; read after XSync.
static _Thread_local int jump_x11_test_error_code;

static int jump_x11_test_on_error(Display *display, XErrorEvent *event) {
    (void)display;
    jump_x11_test_error_code = event->error_code;
    return 0;
}

static void jump_x11_test_message(char *error, size_t error_length, const char *format, ...) {
    if (error == NULL || error_length == 0) {
        return;
    }
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error, error_length, format, arguments);
    va_end(arguments);
}

// An open display with a pixmap the size of the root window to draw on.
typedef struct {
    Display *display;
    XErrorHandler previous_handler;
    Window root;
    Visual *visual;
    int width;
    int height;
    Pixmap pixmap;
    GC gc;
} jump_x11_test_canvas;

// Scales an 8-bit channel value to a visual's channel mask.
static unsigned long jump_x11_test_channel(unsigned value, unsigned long mask) {
    int shift = 0;
    while (((mask >> shift) & 1) == 0) {
        shift++;
    }
    unsigned long maximum = mask >> shift;
    return (((unsigned long)value * maximum + 127) / 255) << shift;
}

static unsigned long jump_x11_test_pixel(const Visual *visual, uint32_t rgb) {
    return jump_x11_test_channel((rgb >> 16) & 0xff, visual->red_mask) |
           jump_x11_test_channel((rgb >> 8) & 0xff, visual->green_mask) |
           jump_x11_test_channel(rgb & 0xff, visual->blue_mask);
}

static int jump_x11_test_begin(jump_x11_test_canvas *canvas, const char *display_name, char *error,
                               size_t error_length) {
    memset(canvas, 0, sizeof *canvas);
    canvas->display = XOpenDisplay(display_name);
    if (canvas->display == NULL) {
        jump_x11_test_message(error, error_length, "cannot open X display %s", XDisplayName(display_name));
        return -1;
    }
    Display *display = canvas->display;
    canvas->previous_handler = XSetErrorHandler(jump_x11_test_on_error);
    jump_x11_test_error_code = 0;
    int screen = DefaultScreen(display);
    canvas->root = RootWindow(display, screen);
    canvas->visual = DefaultVisual(display, screen);
    if (canvas->visual->class != TrueColor || canvas->visual->red_mask == 0 || canvas->visual->green_mask == 0 ||
        canvas->visual->blue_mask == 0) {
        jump_x11_test_message(error, error_length, "the default visual is not TrueColor");
        XSetErrorHandler(canvas->previous_handler);
        XCloseDisplay(display);
        return -1;
    }
    XWindowAttributes attributes;
    XGetWindowAttributes(display, canvas->root, &attributes);
    canvas->width = attributes.width;
    canvas->height = attributes.height;
    canvas->pixmap = XCreatePixmap(display, canvas->root, (unsigned)canvas->width, (unsigned)canvas->height,
                                   (unsigned)DefaultDepth(display, screen));
    canvas->gc = XCreateGC(display, canvas->pixmap, 0, NULL);
    return 0;
}

static void jump_x11_test_set_color(jump_x11_test_canvas *canvas, uint32_t rgb) {
    XSetForeground(canvas->display, canvas->gc, jump_x11_test_pixel(canvas->visual, rgb));
}

// Shows the pixmap as the root background, releases everything and reports any protocol error.
static int jump_x11_test_end(jump_x11_test_canvas *canvas, char *error, size_t error_length) {
    Display *display = canvas->display;
    XSetWindowBackgroundPixmap(display, canvas->root, canvas->pixmap);
    XClearWindow(display, canvas->root);
    XFreeGC(display, canvas->gc);
    XFreePixmap(display, canvas->pixmap);  // the background keeps the picture
    XSync(display, False);
    int code = jump_x11_test_error_code;
    int result = 0;
    if (code != 0) {
        char text[128];
        XGetErrorText(display, code, text, sizeof text);
        jump_x11_test_message(error, error_length, "drawing the root background: X error %s", text);
        result = -1;
    }
    XSetErrorHandler(canvas->previous_handler);
    XCloseDisplay(display);
    return result;
}

int jump_x11_test_fill_grid(const char *display, int columns, int rows, const uint32_t *colors, char *error,
                            size_t error_length) {
    if (columns < 1 || rows < 1 || colors == NULL) {
        jump_x11_test_message(error, error_length, "a grid needs at least one cell and its colours");
        return -1;
    }
    jump_x11_test_canvas canvas;
    if (jump_x11_test_begin(&canvas, display, error, error_length) != 0) {
        return -1;
    }
    for (int row = 0; row < rows; row++) {
        int top = (int)((long)row * canvas.height / rows);
        int bottom = (int)((long)(row + 1) * canvas.height / rows);
        for (int column = 0; column < columns; column++) {
            int left = (int)((long)column * canvas.width / columns);
            int right = (int)((long)(column + 1) * canvas.width / columns);
            if (right <= left || bottom <= top) {
                continue;
            }
            jump_x11_test_set_color(&canvas, colors[row * columns + column]);
            XFillRectangle(canvas.display, canvas.pixmap, canvas.gc, left, top, (unsigned)(right - left),
                           (unsigned)(bottom - top));
        }
    }
    return jump_x11_test_end(&canvas, error, error_length);
}

// MARK: - Desktop

// A small linear congruential generator: the same picture for the same seed everywhere.
static uint32_t jump_x11_test_random(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static int jump_x11_test_between(uint32_t *state, int low, int high) {
    return low + (int)(jump_x11_test_random(state) % (uint32_t)(high - low + 1));
}

static uint32_t jump_x11_test_mix(uint32_t from, uint32_t to, int step, int steps) {
    uint32_t mixed = 0;
    for (int shift = 0; shift <= 16; shift += 8) {
        int a = (int)((from >> shift) & 0xff), b = (int)((to >> shift) & 0xff);
        mixed |= (uint32_t)(a + (b - a) * step / steps) << shift;
    }
    return mixed;
}

// Queues rectangles and draws them in one XFillRectangles request per batch.
typedef struct {
    XRectangle rectangles[4096];
    int count;
} jump_x11_test_batch;

static void jump_x11_test_flush(jump_x11_test_canvas *canvas, jump_x11_test_batch *batch) {
    if (batch->count > 0) {
        XFillRectangles(canvas->display, canvas->pixmap, canvas->gc, batch->rectangles, batch->count);
        batch->count = 0;
    }
}

static void jump_x11_test_add(jump_x11_test_canvas *canvas, jump_x11_test_batch *batch, int x, int y, int width,
                              int height) {
    if (batch->count == (int)(sizeof batch->rectangles / sizeof batch->rectangles[0])) {
        jump_x11_test_flush(canvas, batch);
    }
    batch->rectangles[batch->count++] = (XRectangle){(short)x, (short)y, (unsigned short)width, (unsigned short)height};
}

// Lines of "words" made of tiny strokes inside a window body, like small text.
static void jump_x11_test_text(jump_x11_test_canvas *canvas, jump_x11_test_batch *batch, uint32_t *state, int left,
                               int top, int right, int bottom) {
    const int line_height = 13, glyph_width = 7;
    for (int y = top + 6; y + 10 <= bottom - 4; y += line_height) {
        // Ragged line ends, and an occasional empty line between paragraphs.
        if (jump_x11_test_between(state, 0, 9) == 0) {
            continue;
        }
        int line_end = right - 8 - jump_x11_test_between(state, 0, (right - left) / 3);
        int x = left + 8;
        while (x + glyph_width <= line_end) {
            int letters = jump_x11_test_between(state, 2, 9);
            for (int i = 0; i < letters && x + glyph_width <= line_end; i++, x += glyph_width) {
                // A glyph: a stem and one or two short strokes, each 1 to 3 pixels thick. The random numbers
                // are drawn one statement at a time: argument evaluation order is unspecified in C.
                int stem_height = jump_x11_test_between(state, 5, 9);
                int stem_x = x + jump_x11_test_between(state, 0, 2);
                int stem_width = jump_x11_test_between(state, 1, 2);
                jump_x11_test_add(canvas, batch, stem_x, y + 9 - stem_height, stem_width, stem_height);
                int strokes = jump_x11_test_between(state, 1, 2);
                for (int k = 0; k < strokes; k++) {
                    int stroke_x = x + jump_x11_test_between(state, 0, 3);
                    int stroke_y = y + jump_x11_test_between(state, 3, 8);
                    int stroke_width = jump_x11_test_between(state, 1, 3);
                    int stroke_height = jump_x11_test_between(state, 1, 3);
                    jump_x11_test_add(canvas, batch, stroke_x, stroke_y, stroke_width, stroke_height);
                }
            }
            x += glyph_width;  // the space between words
        }
    }
}

int jump_x11_test_fill_desktop(const char *display, unsigned seed, char *error, size_t error_length) {
    jump_x11_test_canvas canvas;
    if (jump_x11_test_begin(&canvas, display, error, error_length) != 0) {
        return -1;
    }
    jump_x11_test_batch *batch = calloc(1, sizeof *batch);
    if (batch == NULL) {
        jump_x11_test_message(error, error_length, "out of memory");
        jump_x11_test_end(&canvas, NULL, 0);
        return -1;
    }
    uint32_t state = seed * 2654435761u + 12345u;
    const int width = canvas.width, height = canvas.height;

    // A vertical gradient between two colours, in bands of 4 rows.
    uint32_t sky = 0x1d3557u + (uint32_t)jump_x11_test_between(&state, 0, 0x20);
    uint32_t ground = 0x457b9du;
    const int band = 4;
    for (int y = 0; y < height; y += band) {
        jump_x11_test_set_color(&canvas, jump_x11_test_mix(sky, ground, y, height));
        XFillRectangle(canvas.display, canvas.pixmap, canvas.gc, 0, y, (unsigned)width, (unsigned)band);
    }

    // Overlapping windows: frame, title bar, light body and text, each drawn over the ones before.
    static const uint32_t titles[] = {0x3c6e91u, 0x5a5a5au, 0x2e7d32u, 0x8e3b46u};
    static const uint32_t bodies[] = {0xf5f5f5u, 0xffffffu, 0xeceff1u, 0xfffde7u};
    static const uint32_t inks[] = {0x202020u, 0x1a237eu, 0x424242u};
    for (int w = 0; w < 8; w++) {
        int window_width = jump_x11_test_between(&state, width / 5, width / 2);
        int window_height = jump_x11_test_between(&state, height / 5, height / 2);
        int left = jump_x11_test_between(&state, 0, width - window_width);
        int top = jump_x11_test_between(&state, 0, height - window_height);
        const int title_height = 24;

        jump_x11_test_set_color(&canvas, 0x101010u);
        XFillRectangle(canvas.display, canvas.pixmap, canvas.gc, left - 1, top - 1, (unsigned)window_width + 2,
                       (unsigned)window_height + 2);
        jump_x11_test_set_color(&canvas, titles[jump_x11_test_between(&state, 0, 3)]);
        XFillRectangle(canvas.display, canvas.pixmap, canvas.gc, left, top, (unsigned)window_width,
                       (unsigned)title_height);
        jump_x11_test_set_color(&canvas, bodies[jump_x11_test_between(&state, 0, 3)]);
        XFillRectangle(canvas.display, canvas.pixmap, canvas.gc, left, top + title_height, (unsigned)window_width,
                       (unsigned)(window_height - title_height));

        // The title's text and the window buttons, light on the title bar.
        jump_x11_test_set_color(&canvas, 0xf0f0f0u);
        jump_x11_test_text(&canvas, batch, &state, left, top, left + window_width / 2, top + title_height);
        for (int b = 0; b < 3; b++) {
            jump_x11_test_add(&canvas, batch, left + window_width - 22 - 20 * b, top + 6, 12, 12);
        }
        jump_x11_test_flush(&canvas, batch);

        jump_x11_test_set_color(&canvas, inks[jump_x11_test_between(&state, 0, 2)]);
        jump_x11_test_text(&canvas, batch, &state, left, top + title_height, left + window_width, top + window_height);
        jump_x11_test_flush(&canvas, batch);
    }
    free(batch);
    return jump_x11_test_end(&canvas, error, error_length);
}
