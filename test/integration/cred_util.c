#include "cred_util.h"

#include "fault.h"
#include "kinesis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


void cred_fake_control(const char* base, const char* what, const char* json) {
  char url[512];
  char* resp = NULL;
  long status = 0;
  snprintf(url, sizeof(url), "%s/__control/%s", base, what);
  ASSERT_OK(kn_test_http("POST", url, json, &resp, &status));
  if (status != 200)
    fprintf(stderr, "control %s: HTTP %ld: %s\n", json, status,
            resp != NULL ? resp : "");
  ASSERT_EQ(200, status);
  free(resp);
}


char* cred_fake_state(const char* base, const char* what) {
  char url[512];
  char* resp = NULL;
  long status = 0;
  snprintf(url, sizeof(url), "%s/__control/%s", base, what);
  ASSERT_OK(kn_test_http("GET", url, NULL, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(resp);
  return resp;
}


long cred_fake_counter(const char* json, const char* name) {
  char key[64];
  const char* at;
  snprintf(key, sizeof(key), "\"%s\":", name);
  at = strstr(json, key);
  ASSERT_NOT_NULL(at);
  return strtol(at + strlen(key), NULL, 10);
}


json_t* cred_fake_requests(const char* base, const char* what) {
  char* resp = cred_fake_state(base, what);
  json_t* all;
  json_t* reqs;
  all = json_loads(resp, 0, NULL);
  free(resp);
  ASSERT_NOT_NULL(all);
  reqs = json_object_get(all, "requests");
  ASSERT_NOT_NULL(reqs);
  json_incref(reqs);
  json_decref(all);
  return reqs;
}


const char* cred_req_str(json_t* reqs, size_t i, const char* field) {
  json_t* v = json_object_get(json_array_get(reqs, i), field);
  return json_is_string(v) ? json_string_value(v) : NULL;
}


const char* cred_req_param(json_t* reqs, size_t i, const char* name) {
  json_t* params = json_object_get(json_array_get(reqs, i), "params");
  json_t* v = json_object_get(params, name);
  return json_is_string(v) ? json_string_value(v) : NULL;
}


void cred_expect_one_sts_call(const char* base, const char* action,
                              const char* key_id, const char* token) {
  json_t* reqs = cred_fake_requests(base, "sts");
  ASSERT_EQ(1, json_array_size(reqs));
  if (action != NULL)
    ASSERT_STR_EQ(action, cred_req_str(reqs, 0, "action"));
  if (key_id != NULL)
    ASSERT_STR_EQ(key_id, cred_req_str(reqs, 0, "access_key_id"));
  if (token != NULL)
    ASSERT_STR_EQ(token, cred_req_str(reqs, 0, "security_token"));
  ASSERT_STR_EQ("ok", cred_req_str(reqs, 0, "outcome"));
  json_decref(reqs);
}


void cred_write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(strlen(text), fwrite(text, 1, strlen(text), f));
  ASSERT_OK(fclose(f));
}


void cred_write_sso_token(const char* path, const char* token,
                          long expires_in_s, const char* extra) {
  char when[64];
  time_t t = time(NULL) + expires_in_s;
  struct tm tm;
  FILE* f;
  gmtime_r(&t, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  fprintf(f,
          "{\"startUrl\": \"https://test.awsapps.com/start\", "
          "\"region\": \"us-east-1\", \"accessToken\": \"%s\", "
          "\"expiresAt\": \"%s\"%s}",
          token, when, extra);
  ASSERT_OK(fclose(f));
}


void cred_on_get(int status, const kn_credentials_t* creds, const char* message,
                 void* arg) {
  cred_get_t* r = arg;
  r->calls++;
  r->status = status;
  if (status == 0) {
    snprintf(r->access_key_id, sizeof(r->access_key_id), "%s",
             creds->access_key_id);
    snprintf(r->secret_access_key, sizeof(r->secret_access_key), "%s",
             creds->secret_access_key);
    snprintf(r->session_token, sizeof(r->session_token), "%s",
             creds->session_token != NULL ? creds->session_token : "");
    snprintf(r->role_arn, sizeof(r->role_arn), "%s",
             creds->role_arn != NULL ? creds->role_arn : "");
    snprintf(r->profile, sizeof(r->profile), "%s",
             creds->profile != NULL ? creds->profile : "(null)");
    r->expiration_ms = creds->expiration_ms;
    snprintf(r->source, sizeof(r->source), "%s", creds->source);
  } else {
    ASSERT_NULL(creds);
    snprintf(r->message, sizeof(r->message), "%s", message);
    if (r->check_message != NULL)
      r->check_message(message);
  }
}


void cred_on_warn(const char* message, void* arg) {
  cred_fixture_t* f = arg;
  size_t len = strlen(f->warnings_text);
  f->warnings++;
  snprintf(f->warning, sizeof(f->warning), "%s", message);
  snprintf(f->warnings_text + len, sizeof(f->warnings_text) - len, "%s\n",
           message);
}


void cred_on_closed(void* arg) {
  cred_fixture_t* f = arg;
  f->closed++;
}


void cred_fixture_init(cred_fixture_t* f, const kn_cred_options_t* opts) {
  memset(f, 0, sizeof(*f));
  ASSERT_OK(uv_loop_init(&f->loop));
  ASSERT_OK(kn_http_new(&f->loop, NULL, &f->http));
  ASSERT_OK(kn_cred_provider_new(&f->loop, f->http, opts, &f->p));
}


void cred_fixture_close(cred_fixture_t* f) {
  if (f->closed == 0)
    kn_cred_provider_close(f->p, cred_on_closed, f);
  ASSERT_OK(uv_run(&f->loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, f->closed);
  kn_http_close(f->http, NULL, NULL);
  kn_test_loop_close(&f->loop);
}


void cred_get_once(cred_fixture_t* f, cred_get_t* r) {
  memset(r, 0, sizeof(*r));
  r->check_message = f->check_message;
  ASSERT_OK(kn_cred_provider_get(f->p, cred_on_get, r));
  ASSERT_EQ(0, r->calls);
  ASSERT_OK(uv_run(&f->loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r->calls);
}
