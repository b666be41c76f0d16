/*
 * The kinesis command's JSON writer; json_writer.h says what it holds.
 */

#include "json_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The most bytes put_json_string() writes for `s`. */
size_t json_string_max(const char* s) {
  return s != NULL ? 6 * strlen(s) + 2 : 4;
}


/* Writes `s` at `o` as a JSON string (RFC 8259 §7), or null; returns the
 * end. The library hands us UTF-8 from the service's own JSON, so bytes
 * >= 0x80 are copied as they are. */
char* put_json_string(char* o, const char* s) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char* p = (const unsigned char*) s;

  if (s == NULL) {
    memcpy(o, "null", 4);
    return o + 4;
  }
  *o++ = '"';
  for (; *p != '\0'; p++) {
    unsigned char c = *p;
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      *o++ = (char) c;
      continue;
    }
    *o++ = '\\';
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '\b': *o++ = 'b'; break;
      case '\f': *o++ = 'f'; break;
      case '\n': *o++ = 'n'; break;
      case '\r': *o++ = 'r'; break;
      case '\t': *o++ = 't'; break;
      default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 0xf];
        break;
    }
  }
  *o++ = '"';
  return o;
}


/* Makes room for `n` more bytes and the NUL; returns 0, or -1 with
 * `b->failed` set. */
static int sb_reserve(sbuf_t* b, size_t n) {
  if (b->failed)
    return -1;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap > 0 ? b->cap : 256;
    char* p;
    while (cap < b->len + n + 1)
      cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
      b->failed = 1;
      return -1;
    }
    b->data = p;
    b->cap = cap;
  }
  return 0;
}


void sb_append(sbuf_t* b, const char* s, size_t n) {
  if (sb_reserve(b, n) != 0)
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}


void sb_puts(sbuf_t* b, const char* s) {
  sb_append(b, s, strlen(s));
}


void sb_free(sbuf_t* b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}


/* A JSON string, escaped by put_json_string() straight into the buffer. */
static void sb_json_string(sbuf_t* b, const char* s) {
  if (sb_reserve(b, json_string_max(s)) != 0)
    return;
  b->len = (size_t) (put_json_string(b->data + b->len, s) - b->data);
  b->data[b->len] = '\0';
}


static void jw_indent(jw_t* w) {
  int i;
  sb_append(&w->out, "\n", 1);
  for (i = 0; i < w->depth; i++)
    sb_append(&w->out, "  ", 2);
}


/* Starts a member (`key` set, in an object) or an element (`key` NULL). */
static void jw_key(jw_t* w, const char* key) {
  if (w->depth > 0) {
    if (!w->empty[w->depth])
      sb_append(&w->out, ",", 1);
    w->empty[w->depth] = 0;
    jw_indent(w);
  }
  if (key != NULL) {
    sb_json_string(&w->out, key);
    sb_append(&w->out, ": ", 2);
  }
}


void jw_open(jw_t* w, const char* key, char bracket) {
  jw_key(w, key);
  sb_append(&w->out, &bracket, 1);
  if (w->depth + 1 < JW_MAX_DEPTH) {
    w->depth++;
    w->empty[w->depth] = 1;
  }
}


void jw_close(jw_t* w, char bracket) {
  int empty = w->empty[w->depth];
  if (w->depth > 0)
    w->depth--;
  if (!empty)
    jw_indent(w);
  sb_append(&w->out, &bracket, 1);
}


/* Writes nothing when `value` is NULL: absent members are omitted. */
void jw_string(jw_t* w, const char* key, const char* value) {
  if (value == NULL)
    return;
  jw_key(w, key);
  sb_json_string(&w->out, value);
}


void jw_uint(jw_t* w, const char* key, unsigned long value) {
  char num[32];
  snprintf(num, sizeof(num), "%lu", value);
  jw_key(w, key);
  sb_puts(&w->out, num);
}


/* Epoch seconds with at most millisecond precision and no trailing zeros,
 * as the service sends them: 1700000000 or 1700000000.123. */
void jw_seconds(jw_t* w, const char* key, double value) {
  char num[64];
  size_t n;
  jw_key(w, key);
  if (!isfinite(value)) {
    sb_puts(&w->out, "null");
    return;
  }
  snprintf(num, sizeof(num), "%.3f", value);
  n = strlen(num);
  while (n > 0 && num[n - 1] == '0')
    n--;
  if (n > 0 && num[n - 1] == '.')
    n--;
  sb_append(&w->out, num, n);
}
