/*
 * The kinesis command's base64 and ISO 8601 times; encoding.h says what
 * each function takes.
 */

#include "encoding.h"

#include <stdint.h>
#include <string.h>
#include <time.h>


static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Each 12-bit value as its two characters: a group of 3 bytes is then two
 * lookups (tail --format json encodes every record's data). Filled on the
 * first use; the command has one thread. */
static char b64_pairs[4096][2];
static int b64_pairs_ready;


static void b64_fill_pairs(void) {
  int i;
  for (i = 0; i < 4096; i++) {
    b64_pairs[i][0] = b64_alphabet[i >> 6];
    b64_pairs[i][1] = b64_alphabet[i & 63];
  }
  b64_pairs_ready = 1;
}


size_t b64_encoded_len(size_t len) {
  size_t groups = len / 3 + (len % 3 != 0);
  return groups > SIZE_MAX / 4 ? SIZE_MAX : groups * 4;
}


char* b64_encode(const uint8_t* data, size_t len, char* out) {
  size_t i = 0;
  uint32_t v;

  if (!b64_pairs_ready)
    b64_fill_pairs();
  for (; i + 3 <= len; i += 3) {
    v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8 | data[i + 2];
    memcpy(out, b64_pairs[v >> 12], 2);
    memcpy(out + 2, b64_pairs[v & 0xfff], 2);
    out += 4;
  }
  if (len - i == 1) {
    v = (uint32_t) data[i] << 16;
    memcpy(out, b64_pairs[v >> 12], 2);
    out[2] = '=';
    out[3] = '=';
    out += 4;
  } else if (len - i == 2) {
    v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8;
    memcpy(out, b64_pairs[v >> 12], 2);
    out[2] = b64_alphabet[(v >> 6) & 63];
    out[3] = '=';
    out += 4;
  }
  return out;
}


size_t b64_decoded_max(size_t in_len) {
  return in_len / 4 * 3 + 3;
}


/* A character's 6 bits, or -1 outside the alphabet ('=' included). */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}


int b64_decode(const char* in, size_t in_len, uint8_t* out, size_t* out_len) {
  const unsigned char* s = (const unsigned char*) in;
  size_t pad = 0;
  size_t i;
  size_t o = 0;

  if (in_len % 4 != 0)
    return -1;
  if (in_len > 0 && s[in_len - 1] == '=')
    pad = s[in_len - 2] == '=' ? 2 : 1;
  for (i = 0; i < in_len; i += 4) {
    int last = i + 4 == in_len;
    int n = last ? 4 - (int) pad : 4; /* characters that carry bits */
    uint32_t v = 0;
    int k;
    for (k = 0; k < 4; k++) {
      int c = k < n ? b64_value(s[i + k]) : 0;
      if (c < 0)
        return -1;
      v = v << 6 | (uint32_t) c;
    }
    /* RFC 4648 section 3.5: the bits under the padding are zero. */
    if ((pad == 2 && last && (v & 0xffff) != 0) ||
        (pad == 1 && last && (v & 0xff) != 0))
      return -1;
    out[o++] = (uint8_t) (v >> 16);
    if (n > 2)
      out[o++] = (uint8_t) (v >> 8);
    if (n > 3)
      out[o++] = (uint8_t) v;
  }
  *out_len = o;
  return 0;
}


/* `n` decimal digits at `*p`, moved past them. */
static int read_digits(const char** p, int n, int* out) {
  int v = 0;
  int i;

  for (i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return 0;
}


static int days_in_month(int year, int month) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}


int iso8601_parse(const char* s, int64_t* out_ms) {
  const char* p = s;
  struct tm tm;
  int year, month, day, hour, min, sec;
  int ms = 0;
  int scale = 100;
  time_t t;

  if (read_digits(&p, 4, &year) != 0 || *p++ != '-' ||
      read_digits(&p, 2, &month) != 0 || *p++ != '-' ||
      read_digits(&p, 2, &day) != 0 || (*p != 'T' && *p != 't' && *p != ' '))
    return -1;
  p++;
  if (read_digits(&p, 2, &hour) != 0 || *p++ != ':' ||
      read_digits(&p, 2, &min) != 0 || *p++ != ':' ||
      read_digits(&p, 2, &sec) != 0)
    return -1;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return -1;
    /* Digits past the millisecond are read and dropped. */
    for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
      ms += (*p - '0') * scale;
  }
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (strncmp(p, "+00:00", 6) == 0)
    p += 6;
  else
    return -1;
  /* A leap second (:60) counts as the first second of the next minute. */
  if (*p != '\0' || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60)
    return -1;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  t = timegm(&tm);
  *out_ms = (int64_t) t * 1000 + ms;
  return 0;
}
