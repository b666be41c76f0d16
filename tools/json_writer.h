/*
 * The kinesis command's JSON writer (tools/json_writer.c): the escaping of
 * a JSON string, used both by the writer below and by tail's --format json
 * lines, which write each string straight into their output block; and a
 * writer of indented JSON documents for describe-stream and the listing
 * commands.
 *
 * sbuf_t is not a second writer: it is the document writer's output, a
 * growable string that remembers an allocation failure, so that the
 * callers write a whole document and check once, at the end.
 */

#ifndef KINESIS_TOOLS_JSON_WRITER_H
#define KINESIS_TOOLS_JSON_WRITER_H

#include <stddef.h>

/* ---- A growable string, for the JSON output ---- */

typedef struct {
  char* data;
  size_t len;
  size_t cap;
  int failed; /* an allocation failed; the content is incomplete */
} sbuf_t;

void sb_append(sbuf_t* b, const char* s, size_t n);
void sb_puts(sbuf_t* b, const char* s);
void sb_free(sbuf_t* b);


/* ---- JSON strings ---- */

/* The most bytes put_json_string() writes for `s`. */
size_t json_string_max(const char* s);
/* Writes `s` at `o` as a JSON string, or null when `s` is NULL; returns
 * the end. */
char* put_json_string(char* o, const char* s);


/* ---- A JSON writer with two-space indentation ---- */

#define JW_MAX_DEPTH 8

typedef struct {
  sbuf_t out;
  int depth;
  int empty[JW_MAX_DEPTH]; /* no member written yet at this depth */
} jw_t;

/* Opens an object ('{') or an array ('['), as the member `key` or, with
 * `key` NULL, as an element; jw_close() closes it. */
void jw_open(jw_t* w, const char* key, char bracket);
void jw_close(jw_t* w, char bracket);
/* Writes nothing when `value` is NULL: absent members are omitted. */
void jw_string(jw_t* w, const char* key, const char* value);
void jw_uint(jw_t* w, const char* key, unsigned long value);
/* Epoch seconds with at most millisecond precision and no trailing
 * zeros. */
void jw_seconds(jw_t* w, const char* key, double value);

#endif
