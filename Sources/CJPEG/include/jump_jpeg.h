// JPEG encoding and decoding with libjpeg-turbo (the libjpeg API), into and out of memory. Decoding is
// for tests and tools that check a thumbnail.
#ifndef JUMP_JPEG_H
#define JUMP_JPEG_H

#include <stddef.h>
#include <stdint.h>

/// Encodes packed RGB (stride width * 3) as a baseline JPEG with 4:2:0 chroma at `quality` (1 to 100).
/// On success returns 0 and a buffer in `*jpeg` that the caller frees with jump_jpeg_free; otherwise
/// -1 with a message in `error`.
int jump_jpeg_encode(const uint8_t *rgb, int width, int height, int quality,
                     uint8_t **jpeg, size_t *jpeg_length, char *error, size_t error_length);

/// Decodes a JPEG to packed RGB. Refuses pictures with a side above `largest_side`. On success returns
/// 0 and a buffer in `*rgb` to free with jump_jpeg_free; otherwise -1 with a message in `error`
/// (corrupt data never ends the process).
int jump_jpeg_decode(const uint8_t *jpeg, size_t jpeg_length, int largest_side,
                     uint8_t **rgb, int *width, int *height, char *error, size_t error_length);

void jump_jpeg_free(void *buffer);

#endif
