/*
 * One line of `kinesis put --format json` (tools/put_line.c): a JSON
 * object with the record's data, as text or base64, and its optional keys.
 * The command parses it with jansson; the library is not involved until
 * the record is put.
 */

#ifndef KINESIS_TOOLS_PUT_LINE_H
#define KINESIS_TOOLS_PUT_LINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t* data; /* malloc'd; decoded when from data_b64 */
  size_t len;
  char* partition_key;     /* malloc'd, NULL when absent */
  char* explicit_hash_key; /* malloc'd, NULL when absent */
  char error[128];         /* why the line was refused */
} put_line_t;

/*
 * Parses one object: {"data": "text"} or {"data_b64": "..."}, with optional
 * "partition_key" and "explicit_hash_key" strings; other members are
 * ignored. Returns 0, or KINESIS_EINVAL with `error` set (not JSON, not an
 * object, neither or both of data and data_b64, a member of the wrong type,
 * bad base64), or KINESIS_ENOMEM. put_line_clear() it in every case. The
 * keys are not checked here: kinesis_record_validate() does that.
 */
int put_line_parse(const char* line, size_t len, put_line_t* out);
void put_line_clear(put_line_t* l);

#endif
