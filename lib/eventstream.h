#ifndef KN_EVENTSTREAM_H
#define KN_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * The event stream (application/vnd.amazon.eventstream) that
 * SubscribeToShard answers with (protocol.md section 7), decoded
 * incrementally: bytes in, as they arrive, in pieces of any size; whole
 * messages out, each checked before it is handed on. It knows nothing of
 * HTTP or of Kinesis's events (efo.c reads those).
 *
 * A message is
 *
 *   total length u32 | headers length u32 | CRC32 of the 8 bytes before
 *   headers | payload | CRC32 of every byte before it
 *
 * (integers big-endian), its headers each
 *
 *   name length u8 | name | type u8 | value
 *
 * where the value is nothing (types 0 true and 1 false), 1, 2, 4 or 8 bytes
 * (2 byte, 3 int16, 4 int32, 5 int64, 8 timestamp in ms), a u16 length and
 * that many bytes (6 bytes, 7 string), or 16 bytes (9 uuid).
 *
 * Whatever the bytes, the decoder answers with messages or with a clear
 * error, never a crash, a read out of bounds or an unbounded allocation: a
 * message over KN_ES_MAX_MESSAGE, a CRC that does not match, a header of an
 * unknown type or one that runs past the headers are errors, and after one
 * the decoder takes nothing more.
 */

/* The largest message taken: 16 MiB. */
#define KN_ES_MAX_MESSAGE (16u * 1024 * 1024)

typedef enum {
  KN_ES_TRUE = 0,
  KN_ES_FALSE = 1,
  KN_ES_BYTE = 2,
  KN_ES_INT16 = 3,
  KN_ES_INT32 = 4,
  KN_ES_INT64 = 5,
  KN_ES_BYTES = 6,
  KN_ES_STRING = 7,
  KN_ES_TIMESTAMP = 8,
  KN_ES_UUID = 9
} kn_es_type_t;

typedef struct {
  kn_cursor_t name;
  kn_es_type_t type;
  /* TRUE and FALSE: 1 and 0; BYTE, INT16, INT32, INT64 and TIMESTAMP (ms
   * since the epoch): the value, sign-extended. */
  int64_t num;
  /* BYTES, STRING (not NUL-terminated) and UUID (16 bytes). */
  kn_cursor_t bytes;
} kn_es_header_t;

/* One message, valid during the callback it is given to. */
typedef struct {
  const kn_es_header_t* headers;
  size_t nheaders;
  kn_cursor_t payload;
} kn_es_message_t;

/* Receives each message. Returns 0 to go on; anything else stops the
 * decoder, and kn_es_decoder_feed() returns it. It must not free the
 * decoder. */
typedef int (*kn_es_message_cb)(void* arg, const kn_es_message_t* m);

typedef struct {
  kn_buf_t pending; /* the bytes of a message not yet whole */
  uint32_t total;   /* its length once its prelude is in; 0 before */
  kn_es_header_t* headers;
  size_t headers_cap;
  int stopped;      /* after an error or a callback's stop */
  char error[160];  /* what was wrong, after KINESIS_EPROTO */
} kn_es_decoder_t;

void kn_es_decoder_init(kn_es_decoder_t* d);
void kn_es_decoder_free(kn_es_decoder_t* d);

/*
 * Takes `len` bytes and calls `cb` for each message they complete, in
 * order. Bytes of a message not yet whole are kept (copied) for the next
 * call; whole messages in `data` are read where they are. Returns 0;
 * KINESIS_EPROTO when the bytes are not an event stream (`d->error` says
 * why); KINESIS_ENOMEM; what `cb` returned when it was not 0; or
 * KINESIS_ECLOSING once the decoder has stopped.
 */
int kn_es_decoder_feed(kn_es_decoder_t* d, const uint8_t* data, size_t len,
                       kn_es_message_cb cb, void* arg);

/* 1 when no byte of a message is waiting for the rest: the stream may end
 * here. */
int kn_es_decoder_idle(const kn_es_decoder_t* d);

/*
 * Appends one message, with `n` headers and the payload, to `out`: the
 * encoder of the fake service's SubscribeToShard, beside the decoder so
 * that one file owns the format. Returns 0; KINESIS_EINVAL (a header name
 * empty or over 255 bytes, a BYTES or STRING value over 65535 bytes, a UUID
 * not of 16 bytes, a type past 9, or a message over KN_ES_MAX_MESSAGE),
 * and then nothing is appended; or KINESIS_ENOMEM.
 */
int kn_es_encode(kn_buf_t* out, const kn_es_header_t* headers, size_t n,
                 const uint8_t* payload, size_t len);

/* The first header of `m` named `name`, or NULL. */
const kn_es_header_t* kn_es_header(const kn_es_message_t* m, const char* name);

/* 1 when `m` has a STRING header `name` whose value is `value`. */
int kn_es_header_is(const kn_es_message_t* m, const char* name,
                    const char* value);

#endif /* KN_EVENTSTREAM_H */
