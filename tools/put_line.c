/*
 * `kinesis put --format json` lines; put_line.h says what they hold.
 */

#include "put_line.h"

#include "encoding.h"

#include <kinesis.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void put_line_clear(put_line_t* l) {
  free(l->data);
  free(l->partition_key);
  free(l->explicit_hash_key);
  l->data = NULL;
  l->partition_key = NULL;
  l->explicit_hash_key = NULL;
  l->len = 0;
}


/* An optional string member: 0 when absent or a string (copied), else
 * KINESIS_EINVAL or KINESIS_ENOMEM. */
static int optional_string(json_t* root, const char* key, char** out,
                           put_line_t* l) {
  json_t* v = json_object_get(root, key);
  size_t n;

  if (v == NULL)
    return 0;
  if (!json_is_string(v)) {
    snprintf(l->error, sizeof(l->error), "\"%s\" must be a string", key);
    return KINESIS_EINVAL;
  }
  n = json_string_length(v);
  *out = malloc(n + 1);
  if (*out == NULL)
    return KINESIS_ENOMEM;
  memcpy(*out, json_string_value(v), n);
  (*out)[n] = '\0';
  return 0;
}


/* The data, from "data" (`text`) or "data_b64" (`b64`), one of them set. */
static int take_data(json_t* text, json_t* b64, put_line_t* l) {
  json_t* v = text != NULL ? text : b64;
  size_t in = json_string_length(v);

  l->len = text != NULL ? in : b64_decoded_max(in);
  /* One more byte, so that empty data is not a NULL pointer. */
  l->data = malloc(l->len + 1);
  if (l->data == NULL)
    return KINESIS_ENOMEM;
  if (text != NULL) {
    memcpy(l->data, json_string_value(text), in);
    return 0;
  }
  if (b64_decode(json_string_value(b64), in, l->data, &l->len) != 0) {
    snprintf(l->error, sizeof(l->error), "\"data_b64\" is not base64");
    return KINESIS_EINVAL;
  }
  return 0;
}


int put_line_parse(const char* line, size_t len, put_line_t* l) {
  json_error_t e;
  json_t* root;
  json_t* text;
  json_t* b64;
  int r;

  memset(l, 0, sizeof(*l));
  memset(&e, 0, sizeof(e));
  root = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, &e);
  if (!json_is_object(root)) {
    /* jansson says nothing at all when its first allocation fails. */
    int nomem =
        root == NULL &&
        (json_error_code(&e) == json_error_out_of_memory || e.text[0] == '\0');
    snprintf(l->error, sizeof(l->error),
             nomem ? "out of memory" : "not a JSON object");
    json_decref(root);
    return nomem ? KINESIS_ENOMEM : KINESIS_EINVAL;
  }
  text = json_object_get(root, "data");
  b64 = json_object_get(root, "data_b64");
  r = KINESIS_EINVAL;
  if ((text == NULL) == (b64 == NULL))
    snprintf(l->error, sizeof(l->error),
             "needs exactly one of \"data\" and \"data_b64\"");
  else if (!json_is_string(text != NULL ? text : b64))
    snprintf(l->error, sizeof(l->error), "\"%s\" must be a string",
             text != NULL ? "data" : "data_b64");
  else
    r = take_data(text, b64, l);
  if (r == 0)
    r = optional_string(root, "partition_key", &l->partition_key, l);
  if (r == 0)
    r = optional_string(root, "explicit_hash_key", &l->explicit_hash_key, l);
  if (r == KINESIS_ENOMEM)
    snprintf(l->error, sizeof(l->error), "out of memory");
  json_decref(root);
  return r;
}
