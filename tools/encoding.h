/*
 * The text forms the kinesis command reads and writes itself (issue 17:
 * the command uses the library's public API only): standard base64 for
 * put's "data_b64" and tail's --format json, and the ISO 8601 times of
 * tail's --from at-timestamp:.
 */

#ifndef KINESIS_TOOLS_ENCODING_H
#define KINESIS_TOOLS_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* The length of `len` bytes in base64 with padding: 4 characters for each
 * 3 bytes or part of them. SIZE_MAX when it would not fit a size_t. */
size_t b64_encoded_len(size_t len);

/* Writes `len` bytes at `data` as standard base64 with padding (RFC 4648
 * section 4) at `out`, which has room for b64_encoded_len(len) characters;
 * writes no NUL. Returns the end. */
char* b64_encode(const uint8_t* data, size_t len, char* out);

/* The most bytes b64_decode() writes for `in_len` characters. */
size_t b64_decoded_max(size_t in_len);

/* Decodes standard base64 with padding into `out`, which has room for
 * b64_decoded_max(in_len) bytes, and sets `*out_len`. Refuses (returns -1)
 * what is not whole 4-character groups of the alphabet, padding anywhere
 * but at the end, white space, and bits set under the padding, so that one
 * value has one encoding. Returns 0 or -1. */
int b64_decode(const char* in, size_t in_len, uint8_t* out, size_t* out_len);

/* Parses a UTC time, "2026-11-26T05:00:00Z" ('t' or a space may stand
 * for the 'T'), with optional fractional seconds (milliseconds are kept)
 * and "Z", "z" or "+00:00", into epoch
 * milliseconds. Returns 0, or -1 when `s` is not such a time (a month or
 * day out of range included). */
int iso8601_parse(const char* s, int64_t* out_ms);

#endif
