// JPEG in and out of memory with the libjpeg API (libjpeg-turbo).
//
// libjpeg reports errors by calling error_exit, which by default ends the process. Ours formats the
// message and longjmps back to the call that started the work; that call then destroys the libjpeg
// object and frees any buffer. Everything the recovery path reads lives in a context struct (not in
// locals changed after setjmp, whose values longjmp would leave indeterminate).

#include "jump_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr manager;  // first, so libjpeg's pointer to it is a pointer to this
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jump_jpeg_error;

static void jump_jpeg_error_exit(j_common_ptr info) {
    jump_jpeg_error *error = (jump_jpeg_error *)info->err;
    error->manager.format_message(info, error->message);
    longjmp(error->jump, 1);
}

// Warnings (msg_level -1) mean corrupt data that libjpeg would paper over, e.g. grey for a truncated
// file; treat them as errors. Trace messages (>= 0) are ignored. Nothing is ever printed.
static void jump_jpeg_emit_message(j_common_ptr info, int msg_level) {
    if (msg_level < 0) {
        jump_jpeg_error_exit(info);
    }
}

static void jump_jpeg_output_message(j_common_ptr info) {
    (void)info;
}

static void jump_jpeg_error_init(jump_jpeg_error *error, int warnings_are_errors) {
    jpeg_std_error(&error->manager);
    error->manager.error_exit = jump_jpeg_error_exit;
    error->manager.output_message = jump_jpeg_output_message;
    if (warnings_are_errors) {
        error->manager.emit_message = jump_jpeg_emit_message;
    }
    error->message[0] = '\0';
}

static void jump_jpeg_message(char *error, size_t error_length, const char *prefix, const char *message) {
    if (error != NULL && error_length > 0) {
        snprintf(error, error_length, "%s%s", prefix, message);
    }
}

// MARK: - Encoding

typedef struct {
    struct jpeg_compress_struct info;
    jump_jpeg_error error;
    unsigned char *buffer;  // jpeg_mem_dest's malloc'd output, kept current by libjpeg
    unsigned long length;
} jump_jpeg_encoder;

static void jump_jpeg_encode_run(jump_jpeg_encoder *encoder, const uint8_t *rgb, int width, int height,
                                 int quality) {
    struct jpeg_compress_struct *info = &encoder->info;
    jpeg_create_compress(info);
    jpeg_mem_dest(info, &encoder->buffer, &encoder->length);
    info->image_width = (JDIMENSION)width;
    info->image_height = (JDIMENSION)height;
    info->input_components = 3;
    info->in_color_space = JCS_RGB;
    jpeg_set_defaults(info);  // YCbCr with 2x2 (4:2:0) chroma subsampling, baseline
    jpeg_set_quality(info, quality, TRUE);
    info->optimize_coding = TRUE;  // per-image Huffman tables: a few percent smaller, still baseline
    jpeg_start_compress(info, TRUE);
    const size_t stride = (size_t)width * 3;
    while (info->next_scanline < info->image_height) {
        // libjpeg never writes through the row pointer it reads from.
        JSAMPROW row = (JSAMPROW)(uintptr_t)(rgb + (size_t)info->next_scanline * stride);
        jpeg_write_scanlines(info, &row, 1);
    }
    jpeg_finish_compress(info);
}

int jump_jpeg_encode(const uint8_t *rgb, int width, int height, int quality, uint8_t **jpeg,
                     size_t *jpeg_length, char *error, size_t error_length) {
    *jpeg = NULL;
    *jpeg_length = 0;
    if (rgb == NULL || width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        char text[80];
        snprintf(text, sizeof text, "cannot encode a %dx%d picture", width, height);
        jump_jpeg_message(error, error_length, "", text);
        return -1;
    }
    if (quality < 1 || quality > 100) {
        char text[80];
        snprintf(text, sizeof text, "JPEG quality must be 1 to 100, not %d", quality);
        jump_jpeg_message(error, error_length, "", text);
        return -1;
    }

    jump_jpeg_encoder *encoder = calloc(1, sizeof *encoder);
    if (encoder == NULL) {
        jump_jpeg_message(error, error_length, "", "out of memory");
        return -1;
    }
    encoder->info.err = &encoder->error.manager;
    jump_jpeg_error_init(&encoder->error, 0);
    int result = -1;
    if (setjmp(encoder->error.jump) == 0) {
        jump_jpeg_encode_run(encoder, rgb, width, height, quality);
        *jpeg = encoder->buffer;
        *jpeg_length = encoder->length;
        encoder->buffer = NULL;
        result = 0;
    } else {
        jump_jpeg_message(error, error_length, "JPEG encoding failed: ", encoder->error.message);
    }
    jpeg_destroy_compress(&encoder->info);
    free(encoder->buffer);
    free(encoder);
    return result;
}

// MARK: - Decoding

typedef struct {
    struct jpeg_decompress_struct info;
    jump_jpeg_error error;
    uint8_t *rgb;
    char refusal[128];  // set when the picture is refused rather than broken
} jump_jpeg_decoder;

static int jump_jpeg_decode_run(jump_jpeg_decoder *decoder, const uint8_t *jpeg, size_t jpeg_length,
                                int largest_side) {
    struct jpeg_decompress_struct *info = &decoder->info;
    jpeg_create_decompress(info);
    jpeg_mem_src(info, jpeg, (unsigned long)jpeg_length);
    jpeg_read_header(info, TRUE);
    if (info->image_width > (JDIMENSION)largest_side || info->image_height > (JDIMENSION)largest_side) {
        snprintf(decoder->refusal, sizeof decoder->refusal, "JPEG is %ux%u, above the largest side %d",
                 (unsigned)info->image_width, (unsigned)info->image_height, largest_side);
        return -1;
    }
    info->out_color_space = JCS_RGB;
    jpeg_start_decompress(info);
    if (info->output_components != 3) {
        snprintf(decoder->refusal, sizeof decoder->refusal, "JPEG decodes to %d components, not RGB",
                 info->output_components);
        return -1;
    }
    const size_t stride = (size_t)info->output_width * 3;
    decoder->rgb = malloc(stride * info->output_height);
    if (decoder->rgb == NULL) {
        snprintf(decoder->refusal, sizeof decoder->refusal, "out of memory");
        return -1;
    }
    while (info->output_scanline < info->output_height) {
        JSAMPROW row = decoder->rgb + (size_t)info->output_scanline * stride;
        jpeg_read_scanlines(info, &row, 1);
    }
    jpeg_finish_decompress(info);
    return 0;
}

int jump_jpeg_decode(const uint8_t *jpeg, size_t jpeg_length, int largest_side, uint8_t **rgb, int *width,
                     int *height, char *error, size_t error_length) {
    *rgb = NULL;
    *width = 0;
    *height = 0;
    if (jpeg == NULL || jpeg_length == 0 || largest_side < 1) {
        jump_jpeg_message(error, error_length, "", jpeg == NULL || jpeg_length == 0 ? "empty JPEG" : "largest side below 1");
        return -1;
    }
    jump_jpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) {
        jump_jpeg_message(error, error_length, "", "out of memory");
        return -1;
    }
    decoder->info.err = &decoder->error.manager;
    jump_jpeg_error_init(&decoder->error, 1);
    int result = -1;
    if (setjmp(decoder->error.jump) == 0) {
        if (jump_jpeg_decode_run(decoder, jpeg, jpeg_length, largest_side) == 0) {
            *rgb = decoder->rgb;
            *width = (int)decoder->info.output_width;
            *height = (int)decoder->info.output_height;
            decoder->rgb = NULL;
            result = 0;
        } else {
            jump_jpeg_message(error, error_length, "", decoder->refusal);
        }
    } else {
        jump_jpeg_message(error, error_length, "corrupt JPEG: ", decoder->error.message);
    }
    jpeg_destroy_decompress(&decoder->info);
    free(decoder->rgb);
    free(decoder);
    return result;
}

void jump_jpeg_free(void *buffer) {
    free(buffer);
}
