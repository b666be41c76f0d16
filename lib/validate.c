#include "validate.h"

#include "internal.h"

#include <string.h>

#define KN_MAX_HASH_KEY "340282366920938463463374607431768211455"


static int name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}


int kn_valid_shard_id(const char* s) {
  size_t i;
  if (s == NULL)
    return 0;
  for (i = 0; s[i] != '\0'; i++)
    if (i >= 128 || !name_char(s[i]))
      return 0;
  return i > 0;
}


int kn_valid_consumer_arn(const char* arn) {
  return arn != NULL && strncmp(arn, "arn:", 4) == 0 &&
         strlen(arn) <= 2048 && strstr(arn, ":kinesis:") != NULL &&
         strstr(arn, ":stream/") != NULL && strstr(arn, "/consumer/") != NULL;
}


int kn_valid_stream(const char* s) {
  if (s != NULL && strncmp(s, "arn:", 4) == 0)
    return strlen(s) <= 2048;
  return kn_valid_shard_id(s);
}


size_t kn_utf8_char(const unsigned char* p, size_t len, unsigned* cp) {
  unsigned c;
  size_t n;
  size_t k;

  if (len == 0)
    return 0;
  c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    *cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    *cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    *cp = c & 0x07;
  } else {
    return 0;
  }
  if (n > len)
    return 0;
  for (k = 1; k < n; k++) {
    if ((p[k] & 0xC0) != 0x80)
      return 0;
    *cp = (*cp << 6) | (p[k] & 0x3F);
  }
  /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
  if ((n == 3 && *cp < 0x800) ||
      (n == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)) ||
      (*cp >= 0xD800 && *cp <= 0xDFFF))
    return 0;
  return n;
}


int kn_valid_partition_key(const char* key, size_t len) {
  const unsigned char* p = (const unsigned char*) key;
  size_t i = 0;
  size_t units = 0;

  if (key == NULL || len == 0)
    return 0;
  while (i < len) {
    unsigned cp;
    size_t n;
    if (p[i] < 0x80) { /* the usual key: no call per byte */
      units++;
      i++;
      continue;
    }
    n = kn_utf8_char(p + i, len - i, &cp);
    if (n == 0)
      return 0;
    units += cp >= 0x10000 ? 2 : 1;
    i += n;
  }
  return units <= 256;
}


static int all_digits(const char* s, size_t len) {
  size_t i = 0;
  /* Eight at a time (every answer's sequence numbers pass here): a byte is
   * a digit when its high nibble is 3, and still is after adding 6, which
   * carries past '9'. A carry out of a byte only comes from one that already
   * failed. */
  for (; i + 8 <= len; i += 8) {
    const uint64_t highs = 0xF0F0F0F0F0F0F0F0u;
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (((w & highs) | (((w + 0x0606060606060606u) & highs) >> 4)) !=
        0x3333333333333333u)
      return 0;
  }
  for (; i < len; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return len > 0;
}


int kn_valid_hash_key(const char* key) {
  size_t len;
  if (key == NULL)
    return 0;
  len = strlen(key);
  if (!all_digits(key, len) || len > 39 || (len > 1 && key[0] == '0'))
    return 0;
  /* Same length: decimal strings compare like numbers. */
  return len < 39 || strcmp(key, KN_MAX_HASH_KEY) <= 0;
}


int kn_valid_sequence_number(const char* seq) {
  size_t len;
  if (seq == NULL)
    return 0;
  len = strlen(seq);
  return len <= 129 && all_digits(seq, len);
}


int kn_valid_sequence_number_strict(const char* seq) {
  return seq != NULL && kn_valid_sequence_number_strict_len(seq, strlen(seq));
}


int kn_valid_sequence_number_strict_len(const char* seq, size_t len) {
  return seq != NULL && len <= 129 && all_digits(seq, len) &&
         (len == 1 || seq[0] != '0');
}


/* Characters (code points) of well-formed UTF-8 `s`. */
static size_t utf8_chars(const char* s) {
  size_t n = 0;
  for (; *s != '\0'; s++)
    n += ((unsigned char) *s & 0xC0) != 0x80;
  return n;
}


int kn_valid_tag_key(const char* key) {
  return key != NULL && kn_valid_partition_key(key, strlen(key)) &&
         utf8_chars(key) <= 128;
}


int kn_valid_tag_value(const char* value) {
  return value == NULL || value[0] == '\0' ||
         kn_valid_partition_key(value, strlen(value));
}


int kinesis_record_validate(const kinesis_record_t* record) {
  const size_t max = (size_t) KINESIS_MAX_MAX_RECORD_SIZE_KIB * 1024;
  size_t pk_len;

  if (record == NULL || record->partition_key == NULL ||
      (record->data == NULL && record->len > 0))
    return KINESIS_EINVAL;
  pk_len = strlen(record->partition_key);
  /* Kinesis counts the data and the key against the record limit. */
  if (!kn_valid_partition_key(record->partition_key, pk_len) ||
      record->len > max - pk_len ||
      (record->explicit_hash_key != NULL &&
       !kn_valid_hash_key(record->explicit_hash_key)))
    return KINESIS_EINVAL;
  return 0;
}
