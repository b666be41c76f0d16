/*
 * The shared credentials and config file parser (kn_profile_parse in
 * lib/credentials.h). The input is the credentials file, a NUL byte, then
 * the config file; without a NUL there is no config file. Both are looked
 * up for the "default" profile and for "dev".
 */

#include "fuzz.h"
#include "credentials.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>


static char* copy_text(const uint8_t* p, size_t len) {
  char* s = malloc(len + 1);
  if (s != NULL) {
    memcpy(s, p, len);
    s[len] = '\0';
  }
  return s;
}


static void parse(const char* creds, const char* config, const char* name) {
  kn_profile_t prof;
  int r = kn_profile_parse(creds, config, name, &prof);
  CHECK(r == 0 || r == KINESIS_ENOCREDS || r == KINESIS_ENOMEM);
  if (r == 0)
    CHECK(prof.access_key_id != NULL && prof.secret_access_key != NULL);
  kn_profile_clear(&prof);
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = memchr(data, '\0', size);
  size_t creds_len = nul != NULL ? (size_t) (nul - data) : size;
  char* creds = copy_text(data, creds_len);
  char* config = NULL;

  if (nul != NULL)
    config = copy_text(nul + 1, size - creds_len - 1);
  if (creds != NULL && (nul == NULL || config != NULL)) {
    parse(creds, config, "default");
    parse(creds, config, "dev");
  }
  free(creds);
  free(config);
  return 0;
}
