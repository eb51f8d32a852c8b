// The console's X11 display: screen-saver state and a downscaled capture of every monitor.
//
// Errors: Xlib reports protocol errors asynchronously and its default handler ends the process. We
// install a handler that only records the error (per thread), and every call that cares resets the
// record, makes its requests, syncs, and turns a recorded error into a message. Xlib's *IO* error
// handler (the connection to the server is lost) still ends the process: Xlib cannot continue on a
// dead connection, and the caller is a short-lived helper process whose parent sees it exit.

#include "jump_x11.h"

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/Xrandr.h>
#include <X11/extensions/scrnsaver.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

// Bytes fetched from the server at a time (about 68 rows of a 1920-pixel 32 bpp screen). Bounds the
// memory of a capture, and is faster than whole monitors: every capture touches fresh shared (or
// malloc'd) pages, and the page faults of a big buffer cost more than the extra local round trips
// (measured on Xvfb 1920x1080: 64 rows 5.3 ms, 256 rows 7.2 ms, whole screen 20 ms).
#define JUMP_X11_STRIP_BYTES (512 * 1024)

struct jump_x11 {
    Display *display;
    int screen;
    Window root;
    Visual *visual;
    int depth;
    int has_randr_monitors;  // RandR >= 1.5 (XRRGetMonitors)
    int has_saver;           // MIT-SCREEN-SAVER
    int has_shm;             // MIT-SHM, unless JUMP_X11_NO_SHM is set
};

// The last protocol error seen on this thread; 0 when none since jump_x11_error_reset.
static _Thread_local int jump_x11_error_code;
static _Thread_local int jump_x11_error_major;
static _Thread_local int jump_x11_error_minor;

static int jump_x11_on_error(Display *display, XErrorEvent *event) {
    (void)display;
    jump_x11_error_code = event->error_code;
    jump_x11_error_major = event->request_code;
    jump_x11_error_minor = event->minor_code;
    return 0;
}

static void jump_x11_error_reset(void) {
    jump_x11_error_code = 0;
}

static void jump_x11_message(char *error, size_t error_length, const char *format, ...) {
    if (error == NULL || error_length == 0) {
        return;
    }
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error, error_length, format, arguments);
    va_end(arguments);
}

// Syncs so that errors from the requests so far have arrived, then reports the last one, if any.
static int jump_x11_error_check(Display *display, const char *what, char *error, size_t error_length) {
    XSync(display, False);
    if (jump_x11_error_code == 0) {
        return 0;
    }
    char text[128];
    XGetErrorText(display, jump_x11_error_code, text, sizeof text);
    jump_x11_message(error, error_length, "%s: X error %s (request %d.%d)", what, text, jump_x11_error_major,
                     jump_x11_error_minor);
    return -1;
}

jump_x11 *jump_x11_open(const char *display_name, char *error, size_t error_length) {
    Display *display = XOpenDisplay(display_name);
    if (display == NULL) {
        const char *authority = getenv("XAUTHORITY");
        jump_x11_message(error, error_length,
                         "cannot open X display %s (no server, or not authorised; XAUTHORITY=%s)",
                         XDisplayName(display_name), authority != NULL ? authority : "(unset)");
        return NULL;
    }
    // Process-wide; it only records, so installing it again for another display is harmless.
    XSetErrorHandler(jump_x11_on_error);

    jump_x11 *x11 = calloc(1, sizeof *x11);
    if (x11 == NULL) {
        XCloseDisplay(display);
        jump_x11_message(error, error_length, "out of memory");
        return NULL;
    }
    x11->display = display;
    x11->screen = DefaultScreen(display);
    x11->root = RootWindow(display, x11->screen);
    x11->visual = DefaultVisual(display, x11->screen);
    x11->depth = DefaultDepth(display, x11->screen);

    int event_base, error_base, major = 0, minor = 0;
    if (XRRQueryExtension(display, &event_base, &error_base) && XRRQueryVersion(display, &major, &minor)) {
        x11->has_randr_monitors = major > 1 || (major == 1 && minor >= 5);
    }
    x11->has_saver = XScreenSaverQueryExtension(display, &event_base, &error_base);
    // JUMP_X11_NO_SHM forces XGetImage: for tests of that path and for servers whose MIT-SHM misbehaves.
    const char *no_shm = getenv("JUMP_X11_NO_SHM");
    x11->has_shm = XShmQueryExtension(display) && (no_shm == NULL || no_shm[0] == '\0' || no_shm[0] == '0');
    return x11;
}

void jump_x11_close(jump_x11 *x11) {
    if (x11 == NULL) {
        return;
    }
    XCloseDisplay(x11->display);
    free(x11);
}

// MARK: - Screen saver

int jump_x11_screen_saver(jump_x11 *x11, jump_x11_saver *saver, char *error, size_t error_length) {
    saver->extension_state = JUMP_X11_SAVER_UNKNOWN;
    saver->idle_ms = 0;
    saver->xscreensaver = JUMP_XSCREENSAVER_ABSENT;
    Display *display = x11->display;
    jump_x11_error_reset();

    if (x11->has_saver) {
        XScreenSaverInfo *info = XScreenSaverAllocInfo();
        if (info == NULL) {
            jump_x11_message(error, error_length, "out of memory");
            return -1;
        }
        if (XScreenSaverQueryInfo(display, x11->root, info)) {
            switch (info->state) {
            case ScreenSaverOff: saver->extension_state = JUMP_X11_SAVER_OFF; break;
            case ScreenSaverOn: saver->extension_state = JUMP_X11_SAVER_ON; break;
            case ScreenSaverDisabled: saver->extension_state = JUMP_X11_SAVER_DISABLED; break;
            default: break;
            }
            saver->idle_ms = info->idle;
        }
        XFree(info);
        if (jump_x11_error_check(display, "XScreenSaverQueryInfo", error, error_length) != 0) {
            return -1;
        }
    }

    // xscreensaver (5 and 6) keeps its state on screen 0's root window: _SCREENSAVER_STATUS, type
    // INTEGER, format 32; element 0 is the atom LOCK or BLANK while locked or blanked, 0 otherwise
    // (element 1 is when that began, then the running hack of each screen). Only existing atoms are
    // looked up: if xscreensaver never ran they do not exist and neither does the property.
    char *names[] = {"_SCREENSAVER_STATUS", "BLANK", "LOCK"};
    Atom atoms[3] = {None, None, None};
    XInternAtoms(display, names, 3, True, atoms);
    if (jump_x11_error_check(display, "XInternAtoms", error, error_length) != 0) {
        return -1;
    }
    if (atoms[0] == None) {
        return 0;
    }
    Atom type = None;
    int format = 0;
    unsigned long count = 0, remaining = 0;
    unsigned char *data = NULL;
    int status = XGetWindowProperty(display, RootWindow(display, 0), atoms[0], 0, 1, False, AnyPropertyType,
                                    &type, &format, &count, &remaining, &data);
    int failed = jump_x11_error_check(display, "reading _SCREENSAVER_STATUS", error, error_length) != 0;
    if (!failed && status != Success) {
        jump_x11_message(error, error_length, "reading _SCREENSAVER_STATUS failed");
        failed = 1;
    }
    if (failed) {
        if (data != NULL) {
            XFree(data);
        }
        return -1;
    }
    // XA_ATOM is accepted too: it is what `xprop -f _SCREENSAVER_STATUS 32a -set ...` writes.
    if (data != NULL && format == 32 && count >= 1 && (type == XA_INTEGER || type == XA_ATOM)) {
        // Xlib hands format-32 data over as an array of long, whatever the size of long.
        unsigned long value = (unsigned long)((const long *)data)[0];
        if (value == 0) {
            saver->xscreensaver = JUMP_XSCREENSAVER_IDLE;
        } else if (value == atoms[2]) {
            saver->xscreensaver = JUMP_XSCREENSAVER_LOCKED;
        } else {
            // BLANK, or a value newer than this code: xscreensaver only stores non-zero when not idle.
            saver->xscreensaver = JUMP_XSCREENSAVER_BLANKED;
        }
    }
    if (data != NULL) {
        XFree(data);
    }
    return 0;
}

// MARK: - Capture

typedef struct {
    int x, y, width, height;
} jump_x11_rect;

// How to turn one channel of a pixel into 8 bits.
typedef struct {
    unsigned long mask;
    int shift;
    int bits;
    uint8_t table[256];  // value -> 8 bits, used when bits < 8
} jump_x11_channel;

// The screen's pixel layout, and where each channel lands in a packed column sum (see below).
typedef struct {
    jump_x11_channel channels[3];  // red, green, blue
    int bits_per_pixel;
    int byte_order;
    // 32 bits a pixel in host order with 8-bit channels on byte boundaries: the common case, summed
    // without decoding each channel.
    int direct;
    int lane_shift[3];
} jump_x11_format;

// One output column's share of a piece: source columns [start, end) of the piece.
typedef struct {
    int out_x;
    int start;
    int end;
} jump_x11_span;

// Downscaling state. Rows are first summed per source column into `columns`, one uint64_t a column
// holding a 16-bit lane per channel (256 rows of 255 fit a lane); when the output row changes (or
// 256 rows are pending) the columns are reduced span by span into `sums`. That keeps the per-pixel
// work to a load, a spread and an add.
typedef struct {
    const jump_x11_format *format;
    int out_width;
    int box_x;
    const int *column_start;  // output column -> its first bounding-box column (out_width + 1 entries)
    const int *row_to_out;    // bounding-box row -> output row
    uint64_t *sums;           // channel sums of the band's output rows, from first_out_row
    int first_out_row;
    jump_x11_span *spans;     // of the current piece (out_width entries)
    int span_count;
    uint64_t *columns;        // one a column of the current piece
    int width;                // of the current piece
    int pending_rows;
    int pending_out_row;
} jump_x11_target;

#define JUMP_X11_MAX_PENDING_ROWS 256

static int jump_x11_channel_init(jump_x11_channel *channel, unsigned long mask) {
    if (mask == 0) {
        return -1;
    }
    channel->mask = mask;
    channel->shift = 0;
    while (((mask >> channel->shift) & 1) == 0) {
        channel->shift++;
    }
    channel->bits = 0;
    while (channel->shift + channel->bits < (int)(8 * sizeof mask) && ((mask >> (channel->shift + channel->bits)) & 1)) {
        channel->bits++;
    }
    if ((mask >> channel->shift) != (1UL << channel->bits) - 1 || channel->shift + channel->bits > 32) {
        return -1;  // not contiguous, or beyond a 32-bit pixel
    }
    if (channel->bits < 8) {
        unsigned maximum = (1U << channel->bits) - 1;
        for (unsigned value = 0; value <= maximum; value++) {
            channel->table[value] = (uint8_t)((value * 255 + maximum / 2) / maximum);
        }
    }
    return 0;
}

static inline uint64_t jump_x11_channel_value(const jump_x11_channel *channel, uint32_t pixel) {
    uint32_t value = (uint32_t)((pixel & channel->mask) >> channel->shift);
    if (channel->bits == 8) {
        return value;
    }
    return channel->bits < 8 ? channel->table[value] : value >> (channel->bits - 8);
}

static int jump_x11_host_byte_order(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1 ? LSBFirst : MSBFirst;
}

// Spreads the four bytes of a 32-bit pixel into 16-bit lanes: byte 0 -> bit 0, byte 2 -> bit 16,
// byte 1 -> bit 32, byte 3 -> bit 48.
static inline uint64_t jump_x11_spread(uint32_t pixel) {
    return (uint64_t)(pixel & 0x00ff00ffu) | ((uint64_t)(pixel & 0xff00ff00u) << 24);
}

static const int jump_x11_spread_lane[4] = {0, 32, 16, 48};

static int jump_x11_format_init(jump_x11_format *format, Display *display, const Visual *visual, int depth) {
    memset(format, 0, sizeof *format);
    int count = 0;
    XPixmapFormatValues *formats = XListPixmapFormats(display, &count);
    for (int i = 0; i < count; i++) {
        if (formats[i].depth == depth) {
            format->bits_per_pixel = formats[i].bits_per_pixel;
        }
    }
    if (formats != NULL) {
        XFree(formats);
    }
    int bpp = format->bits_per_pixel;
    if (visual->class != TrueColor || (bpp != 16 && bpp != 24 && bpp != 32) ||
        jump_x11_channel_init(&format->channels[0], visual->red_mask) != 0 ||
        jump_x11_channel_init(&format->channels[1], visual->green_mask) != 0 ||
        jump_x11_channel_init(&format->channels[2], visual->blue_mask) != 0) {
        return -1;
    }
    for (int c = 0; c < 3; c++) {
        if (format->channels[c].shift + format->channels[c].bits > bpp) {
            return -1;
        }
    }
    format->byte_order = ImageByteOrder(display);
    format->direct = bpp == 32 && format->byte_order == jump_x11_host_byte_order();
    for (int c = 0; c < 3; c++) {
        const jump_x11_channel *channel = &format->channels[c];
        format->direct = format->direct && channel->bits == 8 && channel->shift % 8 == 0;
    }
    for (int c = 0; c < 3; c++) {
        format->lane_shift[c] = format->direct ? jump_x11_spread_lane[format->channels[c].shift / 8] : 16 * c;
    }
    return 0;
}

// Reduces the pending column sums into the output row they belong to.
static void jump_x11_flush(jump_x11_target *target) {
    if (target->pending_rows == 0) {
        return;
    }
    const int *lane = target->format->lane_shift;
    uint64_t *sums =
        target->sums + (size_t)(target->pending_out_row - target->first_out_row) * (size_t)target->out_width * 3;
    for (int s = 0; s < target->span_count; s++) {
        const jump_x11_span *span = &target->spans[s];
        uint64_t red = 0, green = 0, blue = 0;
        for (int x = span->start; x < span->end; x++) {
            uint64_t column = target->columns[x];
            red += (column >> lane[0]) & 0xffff;
            green += (column >> lane[1]) & 0xffff;
            blue += (column >> lane[2]) & 0xffff;
        }
        uint64_t *out = sums + (size_t)span->out_x * 3;
        out[0] += red;
        out[1] += green;
        out[2] += blue;
    }
    memset(target->columns, 0, sizeof(uint64_t) * (size_t)target->width);
    target->pending_rows = 0;
}

// Adds a strip (an XImage of `rows` rows of the current piece, starting at bounding-box row `box_y`):
// every source pixel lands in exactly one output pixel.
static void jump_x11_accumulate(jump_x11_target *target, const XImage *image, int box_y, int rows) {
    const jump_x11_format *format = target->format;
    const int width = target->width;
    uint64_t *columns = target->columns;
    for (int row = 0; row < rows; row++) {
        int out_row = target->row_to_out[box_y + row];
        if (target->pending_rows > 0 &&
            (out_row != target->pending_out_row || target->pending_rows == JUMP_X11_MAX_PENDING_ROWS)) {
            jump_x11_flush(target);
        }
        target->pending_out_row = out_row;
        target->pending_rows++;

        const uint8_t *line = (const uint8_t *)image->data + (size_t)row * (size_t)image->bytes_per_line;
        if (format->direct) {
            for (int x = 0; x < width; x++) {
                uint32_t pixel;
                memcpy(&pixel, line + 4 * (size_t)x, 4);
                columns[x] += jump_x11_spread(pixel);
            }
            continue;
        }
        const int bytes_per_pixel = format->bits_per_pixel / 8;
        const int host_order = format->byte_order == jump_x11_host_byte_order();
        const uint8_t *p = line;
        for (int x = 0; x < width; x++, p += bytes_per_pixel) {
            uint32_t pixel = 0;
            if (host_order && bytes_per_pixel == 4) {
                memcpy(&pixel, p, 4);
            } else if (host_order && bytes_per_pixel == 2) {
                uint16_t short_pixel;
                memcpy(&short_pixel, p, 2);
                pixel = short_pixel;
            } else if (format->byte_order == LSBFirst) {
                for (int i = bytes_per_pixel - 1; i >= 0; i--) {
                    pixel = (pixel << 8) | p[i];
                }
            } else {
                for (int i = 0; i < bytes_per_pixel; i++) {
                    pixel = (pixel << 8) | p[i];
                }
            }
            columns[x] += jump_x11_channel_value(&format->channels[0], pixel) |
                          jump_x11_channel_value(&format->channels[1], pixel) << 16 |
                          jump_x11_channel_value(&format->channels[2], pixel) << 32;
        }
    }
}

// The server describes each image itself; it must be the layout jump_x11_format_init expected.
static int jump_x11_image_supported(const jump_x11_format *format, const XImage *image, char *error,
                                    size_t error_length) {
    if (image->format != ZPixmap || image->bits_per_pixel != format->bits_per_pixel ||
        image->byte_order != format->byte_order) {
        jump_x11_message(error, error_length, "unexpected X image layout: %d bits per pixel, byte order %d",
                         image->bits_per_pixel, image->byte_order);
        return -1;
    }
    return 0;
}

static int jump_x11_compare_int(const void *a, const void *b) {
    int left = *(const int *)a, right = *(const int *)b;
    return (left > right) - (left < right);
}

static int jump_x11_compare_rect_x(const void *a, const void *b) {
    const jump_x11_rect *left = a, *right = b;
    return (left->x > right->x) - (left->x < right->x);
}

// Splits the union of the monitors into rectangles that do not overlap (monitors may: clones), so
// no pixel is counted twice: for each band between monitor top/bottom edges, the merged runs of the
// monitors covering the whole band.
static jump_x11_rect *jump_x11_union_pieces(const jump_x11_rect *monitors, int count, int *piece_count) {
    int *edges = malloc(sizeof(int) * 2 * (size_t)count);
    jump_x11_rect *runs = malloc(sizeof(jump_x11_rect) * (size_t)count);
    jump_x11_rect *pieces = malloc(sizeof(jump_x11_rect) * (2 * (size_t)count * (size_t)count + 1));
    if (edges == NULL || runs == NULL || pieces == NULL) {
        free(edges);
        free(runs);
        free(pieces);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        edges[2 * i] = monitors[i].y;
        edges[2 * i + 1] = monitors[i].y + monitors[i].height;
    }
    qsort(edges, 2 * (size_t)count, sizeof(int), jump_x11_compare_int);

    int pieces_found = 0;
    for (int e = 0; e + 1 < 2 * count; e++) {
        int top = edges[e], bottom = edges[e + 1];
        if (top == bottom) {
            continue;
        }
        int run_count = 0;
        for (int i = 0; i < count; i++) {
            if (monitors[i].y <= top && monitors[i].y + monitors[i].height >= bottom) {
                runs[run_count++] = monitors[i];
            }
        }
        qsort(runs, (size_t)run_count, sizeof(jump_x11_rect), jump_x11_compare_rect_x);
        for (int i = 0; i < run_count;) {
            int left = runs[i].x, right = runs[i].x + runs[i].width;
            for (i++; i < run_count && runs[i].x <= right; i++) {
                if (runs[i].x + runs[i].width > right) {
                    right = runs[i].x + runs[i].width;
                }
            }
            pieces[pieces_found++] = (jump_x11_rect){left, top, right - left, bottom - top};
        }
    }
    free(edges);
    free(runs);
    *piece_count = pieces_found;
    return pieces;
}


// Rows a strip of `width` pixels may have.
static int jump_x11_strip_rows(const jump_x11_format *format, int width) {
    size_t line = (size_t)width * (size_t)(format->bits_per_pixel / 8);
    size_t rows = JUMP_X11_STRIP_BYTES / (line > 0 ? line : 1);
    return rows < 1 ? 1 : rows > 4096 ? 4096 : (int)rows;
}

// Starts a piece: the output columns it touches, with the piece's source columns for each.
static void jump_x11_begin_piece(jump_x11_target *target, const jump_x11_rect *piece) {
    int left = piece->x - target->box_x, right = left + piece->width;
    target->span_count = 0;
    for (int ox = 0; ox < target->out_width; ox++) {
        int start = target->column_start[ox] > left ? target->column_start[ox] : left;
        int end = target->column_start[ox + 1] < right ? target->column_start[ox + 1] : right;
        if (start < end) {
            target->spans[target->span_count++] = (jump_x11_span){ox, start - left, end - left};
        }
    }
    target->width = piece->width;
    target->pending_rows = 0;
}

// Where strips come from: an MIT-SHM segment the server writes into, or XGetImage replies.
typedef struct {
    jump_x11 *x11;
    int shm;  // 1 while the segment below is attached on both ends
    XShmSegmentInfo segment;
} jump_x11_source;

// Sets up MIT-SHM for strips of up to `width` x `rows` pixels when the server offers it and can attach
// our segment; otherwise the source stays on XGetImage.
static void jump_x11_source_open(jump_x11_source *source, int width, int rows) {
    Display *display = source->x11->display;
    XShmSegmentInfo *segment = &source->segment;
    memset(segment, 0, sizeof *segment);
    segment->shmid = -1;
    source->shm = 0;
    if (!source->x11->has_shm) {
        return;
    }
    XImage *sizing = XShmCreateImage(display, source->x11->visual, (unsigned)source->x11->depth, ZPixmap, NULL,
                                     segment, (unsigned)width, (unsigned)rows);
    if (sizing == NULL) {
        return;
    }
    size_t size = (size_t)sizing->bytes_per_line * (size_t)sizing->height;
    XDestroyImage(sizing);
    segment->shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    if (segment->shmid < 0) {
        return;
    }
    segment->shmaddr = shmat(segment->shmid, NULL, 0);
    if (segment->shmaddr == (char *)-1) {
        shmctl(segment->shmid, IPC_RMID, NULL);
        return;
    }
    segment->readOnly = False;
    jump_x11_error_reset();
    Bool attached = XShmAttach(display, segment);
    XSync(display, False);
    // Both ends are attached (or the server failed to): removal now means the segment goes away with
    // the last detach, even if this process dies.
    shmctl(segment->shmid, IPC_RMID, NULL);
    if (!attached || jump_x11_error_code != 0) {
        // Typically BadAccess: the server cannot see this segment (remote, other IPC namespace).
        jump_x11_error_reset();
        shmdt(segment->shmaddr);
        return;
    }
    source->shm = 1;
}

static void jump_x11_source_close(jump_x11_source *source) {
    if (source->shm) {
        XShmDetach(source->x11->display, &source->segment);
        XSync(source->x11->display, False);
        shmdt(source->segment.shmaddr);
        source->shm = 0;
    }
}

// Fetches a strip of the root window, or returns NULL with a message. Release with jump_x11_release.
static XImage *jump_x11_fetch(jump_x11_source *source, const jump_x11_rect *strip, char *error,
                              size_t error_length) {
    Display *display = source->x11->display;
    XImage *image = NULL;
    jump_x11_error_reset();
    if (source->shm) {
        // A client-side description of the segment at this strip's size; no request to the server.
        image = XShmCreateImage(display, source->x11->visual, (unsigned)source->x11->depth, ZPixmap,
                                source->segment.shmaddr, &source->segment, (unsigned)strip->width,
                                (unsigned)strip->height);
        if (image == NULL) {
            jump_x11_message(error, error_length, "XShmCreateImage failed");
            return NULL;
        }
        if (!XShmGetImage(display, source->x11->root, image, strip->x, strip->y, AllPlanes) ||
            jump_x11_error_code != 0) {
            image->data = NULL;  // the segment is not the image's to free
            XDestroyImage(image);
            image = NULL;
        }
    } else {
        image = XGetImage(display, source->x11->root, strip->x, strip->y, (unsigned)strip->width,
                          (unsigned)strip->height, AllPlanes, ZPixmap);
        if (image != NULL && jump_x11_error_code != 0) {
            XDestroyImage(image);
            image = NULL;
        }
    }
    const char *what = source->shm ? "XShmGetImage" : "XGetImage";
    if (image == NULL) {
        if (jump_x11_error_check(display, what, error, error_length) == 0) {
            jump_x11_message(error, error_length, "%s failed", what);
        }
        return NULL;
    }
    return image;
}

static void jump_x11_release(jump_x11_source *source, XImage *image) {
    if (source->shm) {
        image->data = NULL;  // the segment is not the image's to free
    }
    XDestroyImage(image);
}

// The monitors to capture, clipped to the root window; the root window itself without RandR 1.5 (or
// when RandR reports no active monitor).
static jump_x11_rect *jump_x11_monitors(jump_x11 *x11, int root_width, int root_height, int *count, char *error,
                                        size_t error_length) {
    jump_x11_rect *monitors = NULL;
    int found = 0;
    if (x11->has_randr_monitors) {
        int listed = 0;
        jump_x11_error_reset();
        XRRMonitorInfo *info = XRRGetMonitors(x11->display, x11->root, True, &listed);
        if (jump_x11_error_check(x11->display, "XRRGetMonitors", error, error_length) != 0) {
            if (info != NULL) {
                XRRFreeMonitors(info);
            }
            return NULL;
        }
        if (info != NULL && listed > 0) {
            monitors = malloc(sizeof(jump_x11_rect) * (size_t)listed);
            if (monitors == NULL) {
                XRRFreeMonitors(info);
                jump_x11_message(error, error_length, "out of memory");
                return NULL;
            }
            for (int i = 0; i < listed; i++) {
                int left = info[i].x > 0 ? info[i].x : 0;
                int top = info[i].y > 0 ? info[i].y : 0;
                int right = info[i].x + info[i].width < root_width ? info[i].x + info[i].width : root_width;
                int bottom = info[i].y + info[i].height < root_height ? info[i].y + info[i].height : root_height;
                if (left < right && top < bottom) {
                    monitors[found++] = (jump_x11_rect){left, top, right - left, bottom - top};
                }
            }
        }
        if (info != NULL) {
            XRRFreeMonitors(info);
        }
    }
    if (found == 0) {
        free(monitors);
        monitors = malloc(sizeof(jump_x11_rect));
        if (monitors == NULL) {
            jump_x11_message(error, error_length, "out of memory");
            return NULL;
        }
        monitors[0] = (jump_x11_rect){0, 0, root_width, root_height};
        found = 1;
    }
    *count = found;
    return monitors;
}

// The scaled length of `side` when the longer side `longest` becomes `largest_side` (never enlarged).
static int jump_x11_scaled(int side, int longest, int largest_side) {
    if (longest <= largest_side) {
        return side;
    }
    int64_t scaled = ((int64_t)side * largest_side * 2 + longest) / ((int64_t)longest * 2);
    return scaled < 1 ? 1 : (int)scaled;
}


// Writes the finished output rows [first, end) of a band as means over each output pixel's whole
// span (parts on no monitor count as black), and clears the band's sums for the next one.
static void jump_x11_finish_band(const jump_x11_target *target, const int *row_start, int first, int end,
                                 uint8_t *pixels) {
    const int out_width = target->out_width;
    for (int oy = first; oy < end; oy++) {
        uint64_t rows = (uint64_t)(row_start[oy + 1] - row_start[oy]);
        const uint64_t *sum = target->sums + (size_t)(oy - first) * (size_t)out_width * 3;
        uint8_t *out = pixels + (size_t)oy * (size_t)out_width * 3;
        for (int ox = 0; ox < out_width; ox++) {
            uint64_t area = rows * (uint64_t)(target->column_start[ox + 1] - target->column_start[ox]);
            for (int c = 0; c < 3; c++) {
                out[3 * ox + c] = (uint8_t)((sum[3 * ox + c] + area / 2) / area);
            }
        }
    }
    memset(target->sums, 0, sizeof(uint64_t) * (size_t)(end - first) * (size_t)out_width * 3);
}

int jump_x11_capture(jump_x11 *x11, int largest_side, jump_x11_picture *picture, char *error,
                     size_t error_length) {
    memset(picture, 0, sizeof *picture);
    if (largest_side < 1) {
        jump_x11_message(error, error_length, "largest side must be at least 1, not %d", largest_side);
        return -1;
    }
    Display *display = x11->display;

    jump_x11_format format;
    if (jump_x11_format_init(&format, display, x11->visual, x11->depth) != 0) {
        jump_x11_message(error, error_length,
                         "unsupported X visual (class %d, depth %d, %d bits per pixel): only TrueColor at 16, 24 "
                         "or 32 bits per pixel can be captured",
                         x11->visual->class, x11->depth, format.bits_per_pixel);
        return -1;
    }

    // The root window's size now (RandR may have resized it since the connection opened).
    Window root_return;
    int ignored_x, ignored_y;
    unsigned root_width = 0, root_height = 0, border, depth;
    jump_x11_error_reset();
    if (!XGetGeometry(display, x11->root, &root_return, &ignored_x, &ignored_y, &root_width, &root_height, &border,
                      &depth)) {
        if (jump_x11_error_check(display, "XGetGeometry", error, error_length) == 0) {
            jump_x11_message(error, error_length, "XGetGeometry failed on the root window");
        }
        return -1;
    }

    int monitor_count = 0;
    jump_x11_rect *monitors =
        jump_x11_monitors(x11, (int)root_width, (int)root_height, &monitor_count, error, error_length);
    if (monitors == NULL) {
        return -1;
    }
    int left = monitors[0].x, top = monitors[0].y;
    int right = left + monitors[0].width, bottom = top + monitors[0].height;
    for (int i = 1; i < monitor_count; i++) {
        left = monitors[i].x < left ? monitors[i].x : left;
        top = monitors[i].y < top ? monitors[i].y : top;
        right = monitors[i].x + monitors[i].width > right ? monitors[i].x + monitors[i].width : right;
        bottom = monitors[i].y + monitors[i].height > bottom ? monitors[i].y + monitors[i].height : bottom;
    }
    int box_width = right - left, box_height = bottom - top;
    int longest = box_width > box_height ? box_width : box_height;
    int out_width = jump_x11_scaled(box_width, longest, largest_side);
    int out_height = jump_x11_scaled(box_height, longest, largest_side);

    int piece_count = 0;
    jump_x11_rect *pieces = jump_x11_union_pieces(monitors, monitor_count, &piece_count);
    int widest = 1;
    for (int i = 0; pieces != NULL && i < piece_count; i++) {
        widest = pieces[i].width > widest ? pieces[i].width : widest;
    }
    int strip_rows = jump_x11_strip_rows(&format, widest);
    // Output rows are finished band by band; a band is at most a strip tall (or one output row), so
    // the sums never cover more than strip_rows output rows.
    int band_capacity = out_height < strip_rows ? out_height : strip_rows;

    // Output column ox covers box columns [column_start[ox], column_start[ox + 1]): a partition, so
    // every source pixel counts once; spans differ by at most one pixel when the scale is not integral.
    int *column_start = malloc(sizeof(int) * ((size_t)out_width + 1));
    int *row_start = malloc(sizeof(int) * ((size_t)out_height + 1));
    int *row_to_out = malloc(sizeof(int) * (size_t)box_height);
    jump_x11_span *spans = malloc(sizeof(jump_x11_span) * (size_t)out_width);
    uint64_t *columns = calloc((size_t)box_width, sizeof(uint64_t));
    uint64_t *sums = calloc((size_t)band_capacity * (size_t)out_width * 3, sizeof(uint64_t));
    uint8_t *pixels = malloc((size_t)out_width * (size_t)out_height * 3);
    int result = -1;
    if (pieces == NULL || column_start == NULL || row_start == NULL || row_to_out == NULL || spans == NULL ||
        columns == NULL || sums == NULL || pixels == NULL) {
        jump_x11_message(error, error_length, "out of memory for a %dx%d capture", box_width, box_height);
        goto done;
    }
    for (int ox = 0; ox <= out_width; ox++) {
        column_start[ox] = (int)((int64_t)ox * box_width / out_width);
    }
    for (int oy = 0; oy <= out_height; oy++) {
        row_start[oy] = (int)((int64_t)oy * box_height / out_height);
    }
    for (int oy = 0; oy < out_height; oy++) {
        for (int y = row_start[oy]; y < row_start[oy + 1]; y++) {
            row_to_out[y] = oy;
        }
    }

    jump_x11_target target = {
        .format = &format,
        .out_width = out_width,
        .box_x = left,
        .column_start = column_start,
        .row_to_out = row_to_out,
        .sums = sums,
        .spans = spans,
        .columns = columns,
    };
    jump_x11_source source = {.x11 = x11};
    jump_x11_source_open(&source, widest, strip_rows);
    int used_shm = source.shm;
    int status = 0;
    for (int first = 0, end = 0; first < out_height && status == 0; first = end) {
        end = first + 1;
        while (end < out_height && end - first < band_capacity && row_start[end + 1] - row_start[first] <= strip_rows) {
            end++;
        }
        target.first_out_row = first;
        int band_top = top + row_start[first], band_bottom = top + row_start[end];
        for (int i = 0; i < piece_count && status == 0; i++) {
            const jump_x11_rect *piece = &pieces[i];
            int y0 = piece->y > band_top ? piece->y : band_top;
            int y1 = piece->y + piece->height < band_bottom ? piece->y + piece->height : band_bottom;
            if (y0 >= y1) {
                continue;
            }
            jump_x11_begin_piece(&target, piece);
            for (int y = y0; y < y1; y += strip_rows) {
                jump_x11_rect strip = {piece->x, y, piece->width, y1 - y < strip_rows ? y1 - y : strip_rows};
                XImage *image = jump_x11_fetch(&source, &strip, error, error_length);
                if (image == NULL) {
                    status = -1;
                    break;
                }
                status = jump_x11_image_supported(&format, image, error, error_length);
                if (status == 0) {
                    jump_x11_accumulate(&target, image, y - top, strip.height);
                }
                jump_x11_release(&source, image);
                if (status != 0) {
                    break;
                }
            }
            jump_x11_flush(&target);
        }
        jump_x11_finish_band(&target, row_start, first, end, pixels);
    }
    jump_x11_source_close(&source);
    if (status != 0) {
        goto done;
    }

    picture->pixels = pixels;
    pixels = NULL;
    picture->width = out_width;
    picture->height = out_height;
    picture->source_x = left;
    picture->source_y = top;
    picture->source_width = box_width;
    picture->source_height = box_height;
    picture->monitor_count = monitor_count;
    picture->used_shm = used_shm;
    result = 0;

done:
    free(monitors);
    free(pieces);
    free(column_start);
    free(row_start);
    free(row_to_out);
    free(spans);
    free(columns);
    free(sums);
    free(pixels);
    return result;
}

void jump_x11_free_picture(jump_x11_picture *picture) {
    if (picture == NULL) {
        return;
    }
    free(picture->pixels);
    memset(picture, 0, sizeof *picture);
}
