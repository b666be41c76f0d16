#ifndef KN_BUF_H
#define KN_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed view of bytes. */
typedef struct kn_cursor_s {
  const uint8_t* ptr;
  size_t len;
} kn_cursor_t;

/* A growable byte buffer, always NUL-terminated past `len` once allocated. */
typedef struct kn_buf_s {
  uint8_t* data;
  size_t len;
  size_t cap;
} kn_buf_t;

#define KN_BUF_INIT {NULL, 0, 0}

kn_cursor_t kn_cursor_from_str(const char* s);

void kn_buf_init(kn_buf_t* b);
void kn_buf_free(kn_buf_t* b);
void kn_buf_reset(kn_buf_t* b);
/* Ensures room for `extra` more bytes plus the terminating NUL. */
int kn_buf_reserve(kn_buf_t* b, size_t extra);
int kn_buf_append(kn_buf_t* b, const void* data, size_t len);
int kn_buf_append_str(kn_buf_t* b, const char* s);
int kn_buf_append_byte(kn_buf_t* b, uint8_t c);
int kn_buf_appendf(kn_buf_t* b, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The contents as a C string: "" when empty. */
const char* kn_buf_str(const kn_buf_t* b);
/* Hands over the storage (NUL-terminated) and leaves `b` empty. An empty
 * buffer gives an allocated ""; NULL only when out of memory. */
char* kn_buf_steal(kn_buf_t* b);

/* Lowercase hex of `len` bytes. */
int kn_buf_append_hex(kn_buf_t* b, const uint8_t* data, size_t len);
void kn_hex_encode(const uint8_t* data, size_t len, char* out /* 2*len+1 */);
/* The value of a hex digit (either case), or -1. */
int kn_hex_value(int c);

/* Standard base64 with padding (RFC 4648 section 4). */
size_t kn_base64_encoded_len(size_t len);
int kn_buf_append_base64(kn_buf_t* b, const uint8_t* data, size_t len);
/*
 * Decodes standard base64 with padding. Writes at most `*out_len` bytes into
 * `out` and sets `*out_len` to the decoded size. `out` may be `in` itself:
 * every group is read before its bytes are written, and bytes never catch
 * up with characters. Returns 0, or KINESIS_EINVAL for malformed input or a
 * short output buffer.
 */
int kn_base64_decode(const char* in, size_t in_len, uint8_t* out,
                     size_t* out_len);
size_t kn_base64_decoded_max(size_t in_len);

#endif /* KN_BUF_H */
