#ifndef KN_TEST_CRED_UTIL_H
#define KN_TEST_CRED_UTIL_H

/* Helpers for the credential tests: the control endpoints of the fakes in
 * test/servers.js, files the tests write, and a kn_cred_provider_t on a loop
 * of its own. Each test keeps its own environment, options and checks. */

#include "harness.h"

#include "credentials.h"
#include "http.h"

#include <jansson.h>

/* POSTs `json` to `base`/__control/`what` (sts, sso, metadata) and asserts
 * the fake answered 200. */
void cred_fake_control(const char* base, const char* what, const char* json);

/* The state of `base`/__control/`what` as the fake's JSON text; free() it. */
char* cred_fake_state(const char* base, const char* what);

/* The number after "`name`": in `json` (a counter of the fake's state). */
long cred_fake_counter(const char* json, const char* name);

/* The requests the fake `what` received, oldest first. json_decref() it. */
json_t* cred_fake_requests(const char* base, const char* what);

/* Request `i`'s string `field`, or its query or form parameter `name`;
 * NULL when absent. */
const char* cred_req_str(json_t* reqs, size_t i, const char* field);
const char* cred_req_param(json_t* reqs, size_t i, const char* name);

/* Asserts the STS fake at `base` received one request, of `action`,
 * signed with `key_id` and carrying `token` (NULL: either not checked), and
 * that it found the signature good. */
void cred_expect_one_sts_call(const char* base, const char* action,
                              const char* key_id, const char* token);

/* Writes `text` to `path`, replacing what was there. */
void cred_write_file(const char* path, const char* text);

/* Writes the SSO token cache file `path` as `aws sso login` would, with
 * `token` expiring `expires_in_s` from now (negative: in the past);
 * `extra` ("" or ", \"key\": ...") is appended to its JSON object. */
void cred_write_sso_token(const char* path, const char* token,
                          long expires_in_s, const char* extra);

/* What a kn_cred_provider_get() callback saw, copied so it outlives it.
 * `check_message`, when set, sees each error message as it was given. */
typedef struct cred_get_s {
  int calls;
  int status;
  char access_key_id[128];
  char secret_access_key[128];
  char session_token[128];
  char role_arn[128];
  char profile[64];
  int64_t expiration_ms;
  char source[32];
  char message[2048];
  void (*check_message)(const char* message);
} cred_get_t;

/* A kn_cred_cb; `arg` is a cred_get_t. */
void cred_on_get(int status, const kn_credentials_t* creds, const char* message,
                 void* arg);

/* A provider on its own loop, with the warnings it gave. */
typedef struct cred_fixture_s {
  uv_loop_t loop;
  kn_http_t* http;
  kn_cred_provider_t* p;
  int closed;
  int warnings;
  char warning[2048];                         /* the last one */
  char warnings_text[8192];                   /* all of them, one a line */
  void (*check_message)(const char* message); /* copied to each get */
} cred_fixture_t;

/* For `opts.warn`, with the fixture as `opts.warn_arg`:
 * counts and keeps the warnings. */
void cred_on_warn(const char* message, void* arg);

/* For kn_cred_provider_close(): counts closes in the fixture `arg`. */
void cred_on_closed(void* arg);

/* Zeroes `f`, starts its loop and HTTP client and a provider with `opts`
 * (whose warn_arg, if it warns, should be `f`). */
void cred_fixture_init(cred_fixture_t* f, const kn_cred_options_t* opts);

/* Closes the provider unless the test did, runs the loop until it is
 * closed, then closes the HTTP client and the loop. */
void cred_fixture_close(cred_fixture_t* f);

/* One get, answered on a later loop turn: runs the loop until it is. */
void cred_get_once(cred_fixture_t* f, cred_get_t* r);

#endif /* KN_TEST_CRED_UTIL_H */
