// Test support: draws a known picture on an X display, as the root window's background so it stays
// after this client disconnects (the X server must run with -noreset).
#ifndef JUMP_X11_TEST_H
#define JUMP_X11_TEST_H

#include <stddef.h>
#include <stdint.h>

/// Fills the root window with a grid of `columns` x `rows` solid cells; `colors` holds one 0xRRGGBB
/// per cell, row by row. Returns 0, or -1 with a message in `error`.
int jump_x11_test_fill_grid(const char *display, int columns, int rows, const uint32_t *colors,
                            char *error, size_t error_length);

/// Fills the root window with a desktop-like picture for benchmarks: a vertical gradient, window-like
/// rectangles and fine detail like text, the same for every `seed`.
int jump_x11_test_fill_desktop(const char *display, unsigned seed, char *error, size_t error_length);

#endif
