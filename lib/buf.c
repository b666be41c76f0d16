#include "buf.h"
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"

/* The first allocation is big enough for most small strings (a header
 * value, a shard id) so that they never reallocate. */
#define KN_BUF_MIN_CAP 64

static const char hex_digits[] = "0123456789abcdef";


int kn_hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decoding table for RFC 4648 section 4: the 6-bit value of each alphabet
 * character, 0xff for everything else, '=' included. Every invalid entry has
 * the high bit set, so one test of the OR of four lookups validates a whole
 * quantum. */
static const uint8_t b64_values[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x00 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x10 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x20 */
    0xff, 0xff, 0xff, 62,   0xff, 0xff, 0xff, 63,   /* '+' '/' */
    52,   53,   54,   55,   56,   57,   58,   59,   /* '0'..'7' */
    60,   61,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* '8' '9' */
    0xff, 0,    1,    2,    3,    4,    5,    6,    /* 'A'..'G' */
    7,    8,    9,    10,   11,   12,   13,   14,   /* 'H'..'O' */
    15,   16,   17,   18,   19,   20,   21,   22,   /* 'P'..'W' */
    23,   24,   25,   0xff, 0xff, 0xff, 0xff, 0xff, /* 'X'..'Z' */
    0xff, 26,   27,   28,   29,   30,   31,   32,   /* 'a'..'g' */
    33,   34,   35,   36,   37,   38,   39,   40,   /* 'h'..'o' */
    41,   42,   43,   44,   45,   46,   47,   48,   /* 'p'..'w' */
    49,   50,   51,   0xff, 0xff, 0xff, 0xff, 0xff, /* 'x'..'z' */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x80 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};


kn_cursor_t kn_cursor_from_str(const char* s) {
  kn_cursor_t c;
  c.ptr = (const uint8_t*) s;
  c.len = s != NULL ? strlen(s) : 0;
  return c;
}


void kn_buf_init(kn_buf_t* b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}


void kn_buf_free(kn_buf_t* b) {
  kn_free(b->data);
  kn_buf_init(b);
}


void kn_buf_reset(kn_buf_t* b) {
  /* The storage is kept: a buffer reused per request stops allocating once
   * it has grown to the largest request. */
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}


int kn_buf_reserve(kn_buf_t* b, size_t extra) {
  size_t need;
  size_t cap;
  uint8_t* data;

  /* len + extra + 1 must not wrap: a wrapped size would "fit" in the current
   * allocation and the caller would write past its end. Objects above
   * PTRDIFF_MAX are refused too, since subtracting pointers into them is
   * undefined (and malloc refuses them anyway). */
  if (extra > (size_t) PTRDIFF_MAX - 1 - b->len)
    return KINESIS_ENOMEM;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;

  cap = b->cap > KN_BUF_MIN_CAP ? b->cap : KN_BUF_MIN_CAP;
  while (cap < need) {
    /* Doubling keeps appends amortised O(1); near the limit take exactly
     * what is needed instead of overshooting it. */
    if (cap > (size_t) PTRDIFF_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }

  data = kn_realloc(b->data, cap);
  if (data == NULL)
    return KINESIS_ENOMEM;
  if (b->data == NULL)
    data[0] = '\0';
  b->data = data;
  b->cap = cap;
  return 0;
}


/*
 * kn_buf_reserve() for appenders whose source may lie inside the buffer
 * itself (copying a piece of a buffer onto its end): when the storage moves,
 * *src is moved with it instead of being left dangling. Addresses are
 * compared as integers, since relational operators on pointers into
 * different objects are undefined.
 */
static int reserve_for(kn_buf_t* b, size_t extra, const uint8_t** src) {
  uintptr_t base = (uintptr_t) b->data;
  uintptr_t p = (uintptr_t) *src;
  int inside = b->data != NULL && p >= base && p < base + b->cap;
  size_t off = inside ? (size_t) (p - base) : 0;
  int r = kn_buf_reserve(b, extra);
  if (r == 0 && inside)
    *src = b->data + off;
  return r;
}


int kn_buf_append(kn_buf_t* b, const void* data, size_t len) {
  const uint8_t* src = data;
  int r;
  if (len == 0)
    return 0;
  if (data == NULL)
    return KINESIS_EINVAL;
  r = reserve_for(b, len, &src);
  if (r != 0)
    return r;
  memcpy(b->data + b->len, src, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}


int kn_buf_append_str(kn_buf_t* b, const char* s) {
  if (s == NULL)
    return KINESIS_EINVAL;
  return kn_buf_append(b, s, strlen(s));
}


int kn_buf_append_byte(kn_buf_t* b, uint8_t c) {
  int r;
  if (b->len + 1 >= b->cap) {
    r = kn_buf_reserve(b, 1);
    if (r != 0)
      return r;
  }
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
  return 0;
}


int kn_buf_appendf(kn_buf_t* b, const char* fmt, ...) {
  va_list ap;
  va_list ap2;
  size_t room;
  int n;
  int r;

  /* First try to format into the spare capacity, which is enough most of the
   * time; only when it is not, grow to the exact size and format again. */
  room = b->cap > b->len ? b->cap - b->len : 0;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  n = vsnprintf(room > 0 ? (char*) b->data + b->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n < 0) {
    va_end(ap2);
    if (b->data != NULL)
      b->data[b->len] = '\0';
    return KINESIS_EINVAL;
  }
  if ((size_t) n < room) {
    va_end(ap2);
    b->len += (size_t) n;
    return 0;
  }

  r = kn_buf_reserve(b, (size_t) n);
  if (r != 0) {
    va_end(ap2);
    /* The truncated first attempt wrote past len; only the terminator
     * needs putting back. */
    if (b->data != NULL)
      b->data[b->len] = '\0';
    return r;
  }
  n = vsnprintf((char*) b->data + b->len, b->cap - b->len, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    b->data[b->len] = '\0';
    return KINESIS_EINVAL;
  }
  b->len += (size_t) n;
  return 0;
}


const char* kn_buf_str(const kn_buf_t* b) {
  return b->data != NULL ? (const char*) b->data : "";
}


char* kn_buf_steal(kn_buf_t* b) {
  char* s;
  /* An empty buffer that never allocated still hands over a real "" so the
   * caller can treat every result alike and kn_free() it. */
  if (b->data == NULL && kn_buf_reserve(b, 0) != 0)
    return NULL;
  s = (char*) b->data;
  kn_buf_init(b);
  return s;
}


void kn_hex_encode(const uint8_t* data, size_t len, char* out) {
  size_t i;
  for (i = 0; i < len; i++) {
    out[2 * i] = hex_digits[data[i] >> 4];
    out[2 * i + 1] = hex_digits[data[i] & 0x0f];
  }
  out[2 * len] = '\0';
}


int kn_buf_append_hex(kn_buf_t* b, const uint8_t* data, size_t len) {
  int r;
  if (len == 0)
    return 0;
  if (data == NULL)
    return KINESIS_EINVAL;
  if (len > SIZE_MAX / 2)
    return KINESIS_ENOMEM;
  r = reserve_for(b, 2 * len, &data);
  if (r != 0)
    return r;
  /* kn_hex_encode() writes the terminator, which reserve made room for. */
  kn_hex_encode(data, len, (char*) b->data + b->len);
  b->len += 2 * len;
  return 0;
}


size_t kn_base64_encoded_len(size_t len) {
  /* Written as whole groups plus a padded tail so that (len + 2) cannot
   * wrap. Callers check len against SIZE_MAX first; see below. */
  return len / 3 * 4 + (len % 3 != 0 ? 4 : 0);
}


/* Two base64 characters for every 12 bits: alphabet[i >> 6], alphabet[i &
 * 63] at offset 2i. Encoding then takes two lookups and two 2-byte copies
 * per three bytes instead of four lookups. Four rows of 1024 pairs, since
 * ISO C promises string literals of 4095 characters only. */
static const char b64_pairs[4][2048 + 1] = {
    {
     "AAABACADAEAFAGAHAIAJAKALAMANAOAPAQARASATAUAVAWAXAYAZAaAbAcAdAeAf"
     "AgAhAiAjAkAlAmAnAoApAqArAsAtAuAvAwAxAyAzA0A1A2A3A4A5A6A7A8A9A+A/"
     "BABBBCBDBEBFBGBHBIBJBKBLBMBNBOBPBQBRBSBTBUBVBWBXBYBZBaBbBcBdBeBf"
     "BgBhBiBjBkBlBmBnBoBpBqBrBsBtBuBvBwBxByBzB0B1B2B3B4B5B6B7B8B9B+B/"
     "CACBCCCDCECFCGCHCICJCKCLCMCNCOCPCQCRCSCTCUCVCWCXCYCZCaCbCcCdCeCf"
     "CgChCiCjCkClCmCnCoCpCqCrCsCtCuCvCwCxCyCzC0C1C2C3C4C5C6C7C8C9C+C/"
     "DADBDCDDDEDFDGDHDIDJDKDLDMDNDODPDQDRDSDTDUDVDWDXDYDZDaDbDcDdDeDf"
     "DgDhDiDjDkDlDmDnDoDpDqDrDsDtDuDvDwDxDyDzD0D1D2D3D4D5D6D7D8D9D+D/"
     "EAEBECEDEEEFEGEHEIEJEKELEMENEOEPEQERESETEUEVEWEXEYEZEaEbEcEdEeEf"
     "EgEhEiEjEkElEmEnEoEpEqErEsEtEuEvEwExEyEzE0E1E2E3E4E5E6E7E8E9E+E/"
     "FAFBFCFDFEFFFGFHFIFJFKFLFMFNFOFPFQFRFSFTFUFVFWFXFYFZFaFbFcFdFeFf"
     "FgFhFiFjFkFlFmFnFoFpFqFrFsFtFuFvFwFxFyFzF0F1F2F3F4F5F6F7F8F9F+F/"
     "GAGBGCGDGEGFGGGHGIGJGKGLGMGNGOGPGQGRGSGTGUGVGWGXGYGZGaGbGcGdGeGf"
     "GgGhGiGjGkGlGmGnGoGpGqGrGsGtGuGvGwGxGyGzG0G1G2G3G4G5G6G7G8G9G+G/"
     "HAHBHCHDHEHFHGHHHIHJHKHLHMHNHOHPHQHRHSHTHUHVHWHXHYHZHaHbHcHdHeHf"
     "HgHhHiHjHkHlHmHnHoHpHqHrHsHtHuHvHwHxHyHzH0H1H2H3H4H5H6H7H8H9H+H/"
     "IAIBICIDIEIFIGIHIIIJIKILIMINIOIPIQIRISITIUIVIWIXIYIZIaIbIcIdIeIf"
     "IgIhIiIjIkIlImInIoIpIqIrIsItIuIvIwIxIyIzI0I1I2I3I4I5I6I7I8I9I+I/"
     "JAJBJCJDJEJFJGJHJIJJJKJLJMJNJOJPJQJRJSJTJUJVJWJXJYJZJaJbJcJdJeJf"
     "JgJhJiJjJkJlJmJnJoJpJqJrJsJtJuJvJwJxJyJzJ0J1J2J3J4J5J6J7J8J9J+J/"
     "KAKBKCKDKEKFKGKHKIKJKKKLKMKNKOKPKQKRKSKTKUKVKWKXKYKZKaKbKcKdKeKf"
     "KgKhKiKjKkKlKmKnKoKpKqKrKsKtKuKvKwKxKyKzK0K1K2K3K4K5K6K7K8K9K+K/"
     "LALBLCLDLELFLGLHLILJLKLLLMLNLOLPLQLRLSLTLULVLWLXLYLZLaLbLcLdLeLf"
     "LgLhLiLjLkLlLmLnLoLpLqLrLsLtLuLvLwLxLyLzL0L1L2L3L4L5L6L7L8L9L+L/"
     "MAMBMCMDMEMFMGMHMIMJMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZMaMbMcMdMeMf"
     "MgMhMiMjMkMlMmMnMoMpMqMrMsMtMuMvMwMxMyMzM0M1M2M3M4M5M6M7M8M9M+M/"
     "NANBNCNDNENFNGNHNINJNKNLNMNNNONPNQNRNSNTNUNVNWNXNYNZNaNbNcNdNeNf"
     "NgNhNiNjNkNlNmNnNoNpNqNrNsNtNuNvNwNxNyNzN0N1N2N3N4N5N6N7N8N9N+N/"
     "OAOBOCODOEOFOGOHOIOJOKOLOMONOOOPOQOROSOTOUOVOWOXOYOZOaObOcOdOeOf"
     "OgOhOiOjOkOlOmOnOoOpOqOrOsOtOuOvOwOxOyOzO0O1O2O3O4O5O6O7O8O9O+O/"
     "PAPBPCPDPEPFPGPHPIPJPKPLPMPNPOPPPQPRPSPTPUPVPWPXPYPZPaPbPcPdPePf"
     "PgPhPiPjPkPlPmPnPoPpPqPrPsPtPuPvPwPxPyPzP0P1P2P3P4P5P6P7P8P9P+P/"},
    {
     "QAQBQCQDQEQFQGQHQIQJQKQLQMQNQOQPQQQRQSQTQUQVQWQXQYQZQaQbQcQdQeQf"
     "QgQhQiQjQkQlQmQnQoQpQqQrQsQtQuQvQwQxQyQzQ0Q1Q2Q3Q4Q5Q6Q7Q8Q9Q+Q/"
     "RARBRCRDRERFRGRHRIRJRKRLRMRNRORPRQRRRSRTRURVRWRXRYRZRaRbRcRdReRf"
     "RgRhRiRjRkRlRmRnRoRpRqRrRsRtRuRvRwRxRyRzR0R1R2R3R4R5R6R7R8R9R+R/"
     "SASBSCSDSESFSGSHSISJSKSLSMSNSOSPSQSRSSSTSUSVSWSXSYSZSaSbScSdSeSf"
     "SgShSiSjSkSlSmSnSoSpSqSrSsStSuSvSwSxSySzS0S1S2S3S4S5S6S7S8S9S+S/"
     "TATBTCTDTETFTGTHTITJTKTLTMTNTOTPTQTRTSTTTUTVTWTXTYTZTaTbTcTdTeTf"
     "TgThTiTjTkTlTmTnToTpTqTrTsTtTuTvTwTxTyTzT0T1T2T3T4T5T6T7T8T9T+T/"
     "UAUBUCUDUEUFUGUHUIUJUKULUMUNUOUPUQURUSUTUUUVUWUXUYUZUaUbUcUdUeUf"
     "UgUhUiUjUkUlUmUnUoUpUqUrUsUtUuUvUwUxUyUzU0U1U2U3U4U5U6U7U8U9U+U/"
     "VAVBVCVDVEVFVGVHVIVJVKVLVMVNVOVPVQVRVSVTVUVVVWVXVYVZVaVbVcVdVeVf"
     "VgVhViVjVkVlVmVnVoVpVqVrVsVtVuVvVwVxVyVzV0V1V2V3V4V5V6V7V8V9V+V/"
     "WAWBWCWDWEWFWGWHWIWJWKWLWMWNWOWPWQWRWSWTWUWVWWWXWYWZWaWbWcWdWeWf"
     "WgWhWiWjWkWlWmWnWoWpWqWrWsWtWuWvWwWxWyWzW0W1W2W3W4W5W6W7W8W9W+W/"
     "XAXBXCXDXEXFXGXHXIXJXKXLXMXNXOXPXQXRXSXTXUXVXWXXXYXZXaXbXcXdXeXf"
     "XgXhXiXjXkXlXmXnXoXpXqXrXsXtXuXvXwXxXyXzX0X1X2X3X4X5X6X7X8X9X+X/"
     "YAYBYCYDYEYFYGYHYIYJYKYLYMYNYOYPYQYRYSYTYUYVYWYXYYYZYaYbYcYdYeYf"
     "YgYhYiYjYkYlYmYnYoYpYqYrYsYtYuYvYwYxYyYzY0Y1Y2Y3Y4Y5Y6Y7Y8Y9Y+Y/"
     "ZAZBZCZDZEZFZGZHZIZJZKZLZMZNZOZPZQZRZSZTZUZVZWZXZYZZZaZbZcZdZeZf"
     "ZgZhZiZjZkZlZmZnZoZpZqZrZsZtZuZvZwZxZyZzZ0Z1Z2Z3Z4Z5Z6Z7Z8Z9Z+Z/"
     "aAaBaCaDaEaFaGaHaIaJaKaLaMaNaOaPaQaRaSaTaUaVaWaXaYaZaaabacadaeaf"
     "agahaiajakalamanaoapaqarasatauavawaxayaza0a1a2a3a4a5a6a7a8a9a+a/"
     "bAbBbCbDbEbFbGbHbIbJbKbLbMbNbObPbQbRbSbTbUbVbWbXbYbZbabbbcbdbebf"
     "bgbhbibjbkblbmbnbobpbqbrbsbtbubvbwbxbybzb0b1b2b3b4b5b6b7b8b9b+b/"
     "cAcBcCcDcEcFcGcHcIcJcKcLcMcNcOcPcQcRcScTcUcVcWcXcYcZcacbcccdcecf"
     "cgchcicjckclcmcncocpcqcrcsctcucvcwcxcyczc0c1c2c3c4c5c6c7c8c9c+c/"
     "dAdBdCdDdEdFdGdHdIdJdKdLdMdNdOdPdQdRdSdTdUdVdWdXdYdZdadbdcdddedf"
     "dgdhdidjdkdldmdndodpdqdrdsdtdudvdwdxdydzd0d1d2d3d4d5d6d7d8d9d+d/"
     "eAeBeCeDeEeFeGeHeIeJeKeLeMeNeOePeQeReSeTeUeVeWeXeYeZeaebecedeeef"
     "egeheiejekelemeneoepeqereseteuevewexeyeze0e1e2e3e4e5e6e7e8e9e+e/"
     "fAfBfCfDfEfFfGfHfIfJfKfLfMfNfOfPfQfRfSfTfUfVfWfXfYfZfafbfcfdfeff"
     "fgfhfifjfkflfmfnfofpfqfrfsftfufvfwfxfyfzf0f1f2f3f4f5f6f7f8f9f+f/"},
    {
     "gAgBgCgDgEgFgGgHgIgJgKgLgMgNgOgPgQgRgSgTgUgVgWgXgYgZgagbgcgdgegf"
     "ggghgigjgkglgmgngogpgqgrgsgtgugvgwgxgygzg0g1g2g3g4g5g6g7g8g9g+g/"
     "hAhBhChDhEhFhGhHhIhJhKhLhMhNhOhPhQhRhShThUhVhWhXhYhZhahbhchdhehf"
     "hghhhihjhkhlhmhnhohphqhrhshthuhvhwhxhyhzh0h1h2h3h4h5h6h7h8h9h+h/"
     "iAiBiCiDiEiFiGiHiIiJiKiLiMiNiOiPiQiRiSiTiUiViWiXiYiZiaibicidieif"
     "igihiiijikiliminioipiqirisitiuiviwixiyizi0i1i2i3i4i5i6i7i8i9i+i/"
     "jAjBjCjDjEjFjGjHjIjJjKjLjMjNjOjPjQjRjSjTjUjVjWjXjYjZjajbjcjdjejf"
     "jgjhjijjjkjljmjnjojpjqjrjsjtjujvjwjxjyjzj0j1j2j3j4j5j6j7j8j9j+j/"
     "kAkBkCkDkEkFkGkHkIkJkKkLkMkNkOkPkQkRkSkTkUkVkWkXkYkZkakbkckdkekf"
     "kgkhkikjkkklkmknkokpkqkrksktkukvkwkxkykzk0k1k2k3k4k5k6k7k8k9k+k/"
     "lAlBlClDlElFlGlHlIlJlKlLlMlNlOlPlQlRlSlTlUlVlWlXlYlZlalblcldlelf"
     "lglhliljlklllmlnlolplqlrlsltlulvlwlxlylzl0l1l2l3l4l5l6l7l8l9l+l/"
     "mAmBmCmDmEmFmGmHmImJmKmLmMmNmOmPmQmRmSmTmUmVmWmXmYmZmambmcmdmemf"
     "mgmhmimjmkmlmmmnmompmqmrmsmtmumvmwmxmymzm0m1m2m3m4m5m6m7m8m9m+m/"
     "nAnBnCnDnEnFnGnHnInJnKnLnMnNnOnPnQnRnSnTnUnVnWnXnYnZnanbncndnenf"
     "ngnhninjnknlnmnnnonpnqnrnsntnunvnwnxnynzn0n1n2n3n4n5n6n7n8n9n+n/"
     "oAoBoCoDoEoFoGoHoIoJoKoLoMoNoOoPoQoRoSoToUoVoWoXoYoZoaobocodoeof"
     "ogohoiojokolomonooopoqorosotouovowoxoyozo0o1o2o3o4o5o6o7o8o9o+o/"
     "pApBpCpDpEpFpGpHpIpJpKpLpMpNpOpPpQpRpSpTpUpVpWpXpYpZpapbpcpdpepf"
     "pgphpipjpkplpmpnpopppqprpsptpupvpwpxpypzp0p1p2p3p4p5p6p7p8p9p+p/"
     "qAqBqCqDqEqFqGqHqIqJqKqLqMqNqOqPqQqRqSqTqUqVqWqXqYqZqaqbqcqdqeqf"
     "qgqhqiqjqkqlqmqnqoqpqqqrqsqtquqvqwqxqyqzq0q1q2q3q4q5q6q7q8q9q+q/"
     "rArBrCrDrErFrGrHrIrJrKrLrMrNrOrPrQrRrSrTrUrVrWrXrYrZrarbrcrdrerf"
     "rgrhrirjrkrlrmrnrorprqrrrsrtrurvrwrxryrzr0r1r2r3r4r5r6r7r8r9r+r/"
     "sAsBsCsDsEsFsGsHsIsJsKsLsMsNsOsPsQsRsSsTsUsVsWsXsYsZsasbscsdsesf"
     "sgshsisjskslsmsnsospsqsrssstsusvswsxsyszs0s1s2s3s4s5s6s7s8s9s+s/"
     "tAtBtCtDtEtFtGtHtItJtKtLtMtNtOtPtQtRtStTtUtVtWtXtYtZtatbtctdtetf"
     "tgthtitjtktltmtntotptqtrtstttutvtwtxtytzt0t1t2t3t4t5t6t7t8t9t+t/"
     "uAuBuCuDuEuFuGuHuIuJuKuLuMuNuOuPuQuRuSuTuUuVuWuXuYuZuaubucudueuf"
     "uguhuiujukulumunuoupuqurusutuuuvuwuxuyuzu0u1u2u3u4u5u6u7u8u9u+u/"
     "vAvBvCvDvEvFvGvHvIvJvKvLvMvNvOvPvQvRvSvTvUvVvWvXvYvZvavbvcvdvevf"
     "vgvhvivjvkvlvmvnvovpvqvrvsvtvuvvvwvxvyvzv0v1v2v3v4v5v6v7v8v9v+v/"},
    {
     "wAwBwCwDwEwFwGwHwIwJwKwLwMwNwOwPwQwRwSwTwUwVwWwXwYwZwawbwcwdwewf"
     "wgwhwiwjwkwlwmwnwowpwqwrwswtwuwvwwwxwywzw0w1w2w3w4w5w6w7w8w9w+w/"
     "xAxBxCxDxExFxGxHxIxJxKxLxMxNxOxPxQxRxSxTxUxVxWxXxYxZxaxbxcxdxexf"
     "xgxhxixjxkxlxmxnxoxpxqxrxsxtxuxvxwxxxyxzx0x1x2x3x4x5x6x7x8x9x+x/"
     "yAyByCyDyEyFyGyHyIyJyKyLyMyNyOyPyQyRySyTyUyVyWyXyYyZyaybycydyeyf"
     "ygyhyiyjykylymynyoypyqyrysytyuyvywyxyyyzy0y1y2y3y4y5y6y7y8y9y+y/"
     "zAzBzCzDzEzFzGzHzIzJzKzLzMzNzOzPzQzRzSzTzUzVzWzXzYzZzazbzczdzezf"
     "zgzhzizjzkzlzmznzozpzqzrzsztzuzvzwzxzyzzz0z1z2z3z4z5z6z7z8z9z+z/"
     "0A0B0C0D0E0F0G0H0I0J0K0L0M0N0O0P0Q0R0S0T0U0V0W0X0Y0Z0a0b0c0d0e0f"
     "0g0h0i0j0k0l0m0n0o0p0q0r0s0t0u0v0w0x0y0z000102030405060708090+0/"
     "1A1B1C1D1E1F1G1H1I1J1K1L1M1N1O1P1Q1R1S1T1U1V1W1X1Y1Z1a1b1c1d1e1f"
     "1g1h1i1j1k1l1m1n1o1p1q1r1s1t1u1v1w1x1y1z101112131415161718191+1/"
     "2A2B2C2D2E2F2G2H2I2J2K2L2M2N2O2P2Q2R2S2T2U2V2W2X2Y2Z2a2b2c2d2e2f"
     "2g2h2i2j2k2l2m2n2o2p2q2r2s2t2u2v2w2x2y2z202122232425262728292+2/"
     "3A3B3C3D3E3F3G3H3I3J3K3L3M3N3O3P3Q3R3S3T3U3V3W3X3Y3Z3a3b3c3d3e3f"
     "3g3h3i3j3k3l3m3n3o3p3q3r3s3t3u3v3w3x3y3z303132333435363738393+3/"
     "4A4B4C4D4E4F4G4H4I4J4K4L4M4N4O4P4Q4R4S4T4U4V4W4X4Y4Z4a4b4c4d4e4f"
     "4g4h4i4j4k4l4m4n4o4p4q4r4s4t4u4v4w4x4y4z404142434445464748494+4/"
     "5A5B5C5D5E5F5G5H5I5J5K5L5M5N5O5P5Q5R5S5T5U5V5W5X5Y5Z5a5b5c5d5e5f"
     "5g5h5i5j5k5l5m5n5o5p5q5r5s5t5u5v5w5x5y5z505152535455565758595+5/"
     "6A6B6C6D6E6F6G6H6I6J6K6L6M6N6O6P6Q6R6S6T6U6V6W6X6Y6Z6a6b6c6d6e6f"
     "6g6h6i6j6k6l6m6n6o6p6q6r6s6t6u6v6w6x6y6z606162636465666768696+6/"
     "7A7B7C7D7E7F7G7H7I7J7K7L7M7N7O7P7Q7R7S7T7U7V7W7X7Y7Z7a7b7c7d7e7f"
     "7g7h7i7j7k7l7m7n7o7p7q7r7s7t7u7v7w7x7y7z707172737475767778797+7/"
     "8A8B8C8D8E8F8G8H8I8J8K8L8M8N8O8P8Q8R8S8T8U8V8W8X8Y8Z8a8b8c8d8e8f"
     "8g8h8i8j8k8l8m8n8o8p8q8r8s8t8u8v8w8x8y8z808182838485868788898+8/"
     "9A9B9C9D9E9F9G9H9I9J9K9L9M9N9O9P9Q9R9S9T9U9V9W9X9Y9Z9a9b9c9d9e9f"
     "9g9h9i9j9k9l9m9n9o9p9q9r9s9t9u9v9w9x9y9z909192939495969798999+9/"
     "+A+B+C+D+E+F+G+H+I+J+K+L+M+N+O+P+Q+R+S+T+U+V+W+X+Y+Z+a+b+c+d+e+f"
     "+g+h+i+j+k+l+m+n+o+p+q+r+s+t+u+v+w+x+y+z+0+1+2+3+4+5+6+7+8+9+++/"
     "/A/B/C/D/E/F/G/H/I/J/K/L/M/N/O/P/Q/R/S/T/U/V/W/X/Y/Z/a/b/c/d/e/f"
     "/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/6/7/8/9/+//"}};


#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KN_HAVE_AVX2_BASE64 1

/* Base64 with AVX2, 24 input bytes to 32 characters a step, while at least
 * 28 bytes are left (each step loads 16 bytes at offsets 0 and 12). Returns
 * the input bytes done, a multiple of 3; the caller encodes the rest. The
 * steps, for each 3 bytes b0 b1 b2 of a 128-bit lane:
 * - a byte shuffle makes the 32-bit word [b1 b0 b2 b1], whose 16-bit halves
 *   are b0:b1 and b1:b2;
 * - the four 6-bit values sit at bits 15..10 and 9..4 of the first half and
 *   11..6 and 5..0 of the second: a mulhi moves the 1st and 3rd down to bit
 *   0 of bytes 0 and 2, a mullo moves the 2nd and 3rd up to bit 0 of bytes
 *   1 and 3;
 * - a value v becomes its character by adding an offset picked by a 16-entry
 *   lookup: 'A' for 0..25, 'a' - 26 for 26..51, '0' - 52 for 52..61, and the
 *   two last ones each their own. */
__attribute__((target("avx2"))) static size_t base64_avx2(const uint8_t* in,
                                                         size_t len,
                                                         char* out) {
  const __m256i shuffle = _mm256_setr_epi8(
      1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
      1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  const __m256i offsets = _mm256_setr_epi8(
      'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
      '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0,
      'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
      '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
  size_t done = 0;

  while (len - done >= 28) {
    __m128i lo = _mm_loadu_si128((const __m128i*) (in + done));
    __m128i hi = _mm_loadu_si128((const __m128i*) (in + done + 12));
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    __m256i ac;
    __m256i bd;
    __m256i idx;
    __m256i pick;
    v = _mm256_shuffle_epi8(v, shuffle);
    ac = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                            _mm256_set1_epi32(0x04000040));
    bd = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                            _mm256_set1_epi32(0x01000010));
    idx = _mm256_or_si256(ac, bd);
    /* 0 for 0..51, 1..12 for 52..63; then 13 for 0..25. */
    pick = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
    pick = _mm256_or_si256(
        pick, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
                               _mm256_set1_epi8(13)));
    idx = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, pick));
    _mm256_storeu_si256((__m256i*) out, idx);
    out += 32;
    done += 24;
  }
  return done;
}
#endif


int kn_buf_append_base64(kn_buf_t* b, const uint8_t* data, size_t len) {
  size_t i = 0;
  size_t out_len;
  char* out;
  int r;

  if (len == 0)
    return 0;
  if (data == NULL)
    return KINESIS_EINVAL;
  /* The encoded length must itself be representable. */
  if (len / 3 >= SIZE_MAX / 4 - 1)
    return KINESIS_ENOMEM;
  out_len = kn_base64_encoded_len(len);
  r = reserve_for(b, out_len, &data);
  if (r != 0)
    return r;

  /* Encode in place: the producer base64-encodes records straight into the
   * batch body, so there is no intermediate copy. */
  out = (char*) b->data + b->len;
#ifdef KN_HAVE_AVX2_BASE64
  if (len >= 28 && kn_cpu_has_avx2()) {
    i = base64_avx2(data, len, out);
    out += i / 3 * 4;
  }
#endif
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8 |
                 (uint32_t) data[i + 2];
    memcpy(out, &b64_pairs[v >> 22][2 * ((v >> 12) & 1023)], 2);
    memcpy(out + 2, &b64_pairs[(v >> 10) & 3][2 * (v & 1023)], 2);
    out += 4;
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t) data[i] << 16;
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 0x3f];
    *out++ = '=';
    *out++ = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8;
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 0x3f];
    *out++ = b64_alphabet[(v >> 6) & 0x3f];
    *out++ = '=';
  }
  *out = '\0';
  b->len += out_len;
  return 0;
}


#ifdef KN_HAVE_AVX2_BASE64
/* Base64 decoding with AVX2, 32 characters to 24 bytes a step, while 32
 * characters are left and `out` has room for a 32-byte store (`room`
 * bytes). The characters must be whole groups without padding. Returns the
 * characters done, a multiple of 32, or SIZE_MAX when one is not in the
 * alphabet. In place (`out` == `in`) works: a step stores behind what it
 * has loaded. The steps:
 * - checking: a character's low nibble and its high nibble each pick a
 *   mask from a 16-entry table, and the character is in the alphabet
 *   exactly when the two masks share no bit. Each bit stands for a set of
 *   high nibbles: 0x01 for 2 ('+' and '/'), 0x02 for 3 (digits), 0x04 for
 *   4 and 6 (letters from 1), 0x08 for 5 and 7 (letters up to 0xa), 0x10
 *   for every other high nibble (nothing valid); the low table sets a bit
 *   where that low nibble is not valid under those high nibbles. '=' is
 *   refused like any other character outside the alphabet.
 * - values: the high nibble picks what to add to the character ('/' is
 *   told apart from '+', which shares its high nibble, by moving it to
 *   entry 1).
 * - packing: a multiply-add of byte pairs makes each 16-bit word a << 6 |
 *   b, one of word pairs makes each 32-bit word the group's 24 bits; a byte
 *   shuffle takes those 3 bytes of each word, most significant first, and a
 *   permute puts the two lanes' 12 bytes side by side. */
__attribute__((target("avx2"))) static size_t base64_decode_avx2(
    const uint8_t* in, size_t len, uint8_t* out, size_t room) {
  const __m256i lo_masks = _mm256_setr_epi8(
      0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a,
      0x1b, 0x1b, 0x1b, 0x1a, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
      0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
  const __m256i hi_masks = _mm256_setr_epi8(
      0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
      0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
      0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  /* '/' - 63, '+' - 62, '0' - 52, 'A', 'A', 'a' - 26, 'a' - 26, negated. */
  const __m256i adds = _mm256_setr_epi8(
      0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i take3 = _mm256_setr_epi8(
      2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
      2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  size_t done = 0;
  size_t o = 0;

  while (len - done >= 32 && room - o >= 32) {
    __m256i v = _mm256_loadu_si256((const __m256i*) (in + done));
    __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nibble);
    __m256i lo = _mm256_and_si256(v, nibble);
    __m256i slash;
    if (!_mm256_testz_si256(_mm256_shuffle_epi8(lo_masks, lo),
                            _mm256_shuffle_epi8(hi_masks, hi)))
      return SIZE_MAX;
    slash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('/'));
    v = _mm256_add_epi8(
        v, _mm256_shuffle_epi8(adds, _mm256_add_epi8(hi, slash)));
    v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
    v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
    v = _mm256_shuffle_epi8(v, take3);
    v = _mm256_permutevar8x32_epi32(v, lanes);
    _mm256_storeu_si256((__m256i*) (out + o), v);
    done += 32;
    o += 24;
  }
  return done;
}
#endif


size_t kn_base64_decoded_max(size_t in_len) {
  /* An upper bound for any input, valid or not, that cannot wrap. */
  return in_len / 4 * 3 + (in_len % 4 != 0 ? 3 : 0);
}


int kn_base64_decode(const char* in, size_t in_len, uint8_t* out,
                     size_t* out_len) {
  const uint8_t* s = (const uint8_t*) in;
  size_t full;
  size_t pad;
  size_t size;
  size_t i;
  size_t o;
  uint32_t a;
  uint32_t b;
  uint32_t c;
  uint32_t d;

  if (out_len == NULL || (in == NULL && in_len > 0))
    return KINESIS_EINVAL;
  /* RFC 4648 section 4: padded output is always whole 4-character groups.
   * Anything else (including embedded line breaks) is rejected rather than
   * skipped, so corrupt data never decodes to something plausible. */
  if (in_len % 4 != 0)
    return KINESIS_EINVAL;
  if (in_len == 0) {
    *out_len = 0;
    return 0;
  }

  /* Only the last group may carry padding: "xx==" or "xxx=". */
  pad = 0;
  if (s[in_len - 1] == '=') {
    pad = 1;
    if (s[in_len - 2] == '=')
      pad = 2;
  }
  size = in_len / 4 * 3 - pad;
  if (out == NULL || size > *out_len)
    return KINESIS_EINVAL;

  /* Groups before the last are decoded without any per-character branch;
   * the OR of the four lookups has bit 7 set if any character was invalid,
   * '=' included. A bad character found late means some bytes of `out` were
   * written, which the header allows: the result is only defined on 0. */
  full = pad > 0 ? in_len - 4 : in_len;
  i = 0;
  o = 0;
#ifdef KN_HAVE_AVX2_BASE64
  if (full >= 32 && *out_len >= 32 && kn_cpu_has_avx2()) {
    i = base64_decode_avx2(s, full, out, *out_len);
    if (i == SIZE_MAX)
      return KINESIS_EINVAL;
    o = i / 4 * 3;
  }
#endif
  for (; i < full; i += 4, o += 3) {
    a = b64_values[s[i]];
    b = b64_values[s[i + 1]];
    c = b64_values[s[i + 2]];
    d = b64_values[s[i + 3]];
    if ((a | b | c | d) & 0x80)
      return KINESIS_EINVAL;
    out[o] = (uint8_t) (a << 2 | b >> 4);
    out[o + 1] = (uint8_t) (b << 4 | c >> 2);
    out[o + 2] = (uint8_t) (c << 6 | d);
  }

  if (pad > 0) {
    a = b64_values[s[i]];
    b = b64_values[s[i + 1]];
    c = pad == 1 ? b64_values[s[i + 2]] : 0;
    if ((a | b | c) & 0x80)
      return KINESIS_EINVAL;
    /* RFC 4648 section 3.5: the bits under the padding must be zero. A
     * decoder that ignored them would accept several encodings of one
     * value, which is how two different strings end up equal. */
    if (pad == 2 ? (b & 0x0f) != 0 : (c & 0x03) != 0)
      return KINESIS_EINVAL;
    out[o] = (uint8_t) (a << 2 | b >> 4);
    if (pad == 1)
      out[o + 1] = (uint8_t) (b << 4 | c >> 2);
  }

  *out_len = size;
  return 0;
}
