#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>


typedef struct {
  char* data;
  size_t len;
  int oom;
} sink_t;


static size_t on_body(char* ptr, size_t size, size_t nmemb, void* arg) {
  sink_t* s = arg;
  size_t n = size * nmemb;
  char* p;
  if (s->oom)
    return 0;
  p = realloc(s->data, s->len + n + 1);
  if (p == NULL) {
    s->oom = 1;
    return 0;
  }
  s->data = p;
  memcpy(s->data + s->len, ptr, n);
  s->len += n;
  s->data[s->len] = '\0';
  return n;
}


static char* join_url(const char* base, const char* path) {
  size_t bl = strlen(base);
  size_t pl = strlen(path);
  char* url;
  while (bl > 0 && base[bl - 1] == '/')
    bl--;
  url = malloc(bl + pl + 1);
  if (url == NULL)
    return NULL;
  memcpy(url, base, bl);
  memcpy(url + bl, path, pl + 1);
  return url;
}


int kn_test_http_request(const kn_test_http_req_t* req, char** response_out,
                         long* status_out) {
  CURL* h;
  CURLcode rc;
  struct curl_slist* hdrs = NULL;
  struct curl_slist* tmp;
  sink_t sink = {NULL, 0, 0};
  char errbuf[CURL_ERROR_SIZE];
  long status = 0;
  size_t i;
  int r;

  if (response_out != NULL)
    *response_out = NULL;
  if (status_out != NULL)
    *status_out = 0;
  if (req == NULL || req->method == NULL || req->url == NULL)
    return -1;
  h = curl_easy_init();
  if (h == NULL)
    return -1;

  if (req->headers != NULL) {
    for (i = 0; req->headers[i] != NULL; i++) {
      tmp = curl_slist_append(hdrs, req->headers[i]);
      if (tmp == NULL)
        goto fail_setup;
      hdrs = tmp;
    }
  }
  if (req->body != NULL) {
    /* A Content-Type of the caller's wins over this default. */
    int has_type = 0;
    for (tmp = hdrs; tmp != NULL; tmp = tmp->next)
      if (strncasecmp(tmp->data, "Content-Type:", 13) == 0)
        has_type = 1;
    if (!has_type) {
      tmp = curl_slist_append(hdrs, "Content-Type: application/json");
      if (tmp == NULL)
        goto fail_setup;
      hdrs = tmp;
    }
  }
  /* No "Expect: 100-continue" round trip. */
  tmp = curl_slist_append(hdrs, "Expect:");
  if (tmp == NULL)
    goto fail_setup;
  hdrs = tmp;

  errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, req->url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   req->timeout_ms > 0 ? req->timeout_ms : 10000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  if (req->body != NULL) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) strlen(req->body));
  } else if (strcmp(req->method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
  }
  if (strcmp(req->method, "GET") == 0)
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  if (req->ca_file != NULL)
    curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);

  rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    fprintf(stderr, "kn_test_http: %s %s: %s (%d)\n", req->method, req->url,
            errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc), (int) rc);
    r = (int) rc;
  } else if (sink.oom) {
    r = -1;
  } else {
    r = 0;
    if (sink.data == NULL) {
      sink.data = calloc(1, 1);
      if (sink.data == NULL)
        r = -1;
    }
  }
  if (status_out != NULL)
    *status_out = status;
  if (r == 0 && response_out != NULL) {
    *response_out = sink.data;
    sink.data = NULL;
  }
  free(sink.data);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return r;

fail_setup:
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return -1;
}


int kn_test_http(const char* method, const char* url, const char* body,
                 char** response_out, long* status_out) {
  kn_test_http_req_t req;
  memset(&req, 0, sizeof(req));
  req.method = method;
  req.url = url;
  req.body = body;
  return kn_test_http_request(&req, response_out, status_out) == 0 ? 0 : -1;
}


/* A control call that must answer 200. */
static int control(const char* endpoint, const char* method, const char* path,
                   const char* body, char** response_out) {
  char* url = join_url(endpoint, path);
  char* resp = NULL;
  long status = 0;
  int r;
  if (url == NULL)
    return -1;
  r = kn_test_http(method, url, body, &resp, &status);
  if (r == 0 && status != 200) {
    fprintf(stderr, "fault server: %s %s: HTTP %ld: %s\n", method, url, status,
            resp != NULL ? resp : "");
    r = -1;
  }
  if (r == 0 && response_out != NULL) {
    *response_out = resp;
    resp = NULL;
  }
  free(resp);
  free(url);
  return r;
}


int kn_fault_script(const char* fault_endpoint, const char* json_actions) {
  if (fault_endpoint == NULL || json_actions == NULL)
    return -1;
  return control(fault_endpoint, "POST", "/__control/script", json_actions,
                 NULL);
}


int kn_fault_reset(const char* fault_endpoint) {
  if (fault_endpoint == NULL)
    return -1;
  return control(fault_endpoint, "POST", "/__control/reset", NULL, NULL);
}


char* kn_fault_log(const char* fault_endpoint) {
  char* log = NULL;
  if (fault_endpoint == NULL)
    return NULL;
  if (control(fault_endpoint, "GET", "/__control/log", NULL, &log) != 0)
    return NULL;
  return log;
}


json_t* kn_fault_log_json(const char* fault_endpoint) {
  char* text = kn_fault_log(fault_endpoint);
  json_error_t err;
  json_t* log;
  if (text == NULL) {
    fprintf(stderr, "fault server: cannot fetch the log\n");
    return NULL;
  }
  log = json_loads(text, 0, &err);
  if (log == NULL || !json_is_array(log)) {
    fprintf(stderr, "fault server: the log is not a JSON array (%s): %s\n",
            log == NULL ? err.text : "not an array", text);
    json_decref(log);
    log = NULL;
  }
  free(text);
  return log;
}


int kn_fault_chaos(const char* fault_endpoint, const char* json_config) {
  if (fault_endpoint == NULL || json_config == NULL)
    return -1;
  return control(fault_endpoint, "POST", "/__control/chaos", json_config,
                 NULL);
}


int kn_fault_chaos_off(const char* fault_endpoint) {
  if (fault_endpoint == NULL)
    return -1;
  return control(fault_endpoint, "POST", "/__control/chaos",
                 "{\"off\": true}", NULL);
}


char* kn_fault_chaos_stats(const char* fault_endpoint) {
  char* stats = NULL;
  if (fault_endpoint == NULL)
    return NULL;
  if (control(fault_endpoint, "GET", "/__control/chaos", NULL, &stats) != 0)
    return NULL;
  return stats;
}


int kn_fault_kinesalite_down(const char* fault_endpoint, unsigned down_ms) {
  char body[64];
  if (fault_endpoint == NULL || down_ms == 0 || down_ms > 600000)
    return -1;
  snprintf(body, sizeof(body), "{\"down_ms\": %u}", down_ms);
  return control(fault_endpoint, "POST", "/__control/kinesalite", body, NULL);
}


int kn_fault_kinesalite_up(const char* fault_endpoint) {
  if (fault_endpoint == NULL)
    return -1;
  return control(fault_endpoint, "POST", "/__control/kinesalite",
                 "{\"up\": true}", NULL);
}


int kn_test_kinesis_call(const char* endpoint, const char* action,
                         const char* json_body, char** response_out,
                         long* status_out) {
  static const char prefix[] = "X-Amz-Target: Kinesis_20131202.";
  char target[128];
  const char* headers[5];
  kn_test_http_req_t req;
  char* url;
  int r;

  if (endpoint == NULL || action == NULL ||
      strlen(action) >= sizeof(target) - sizeof(prefix))
    return -1;
  snprintf(target, sizeof(target), "%s%s", prefix, action);
  headers[0] = "Content-Type: application/x-amz-json-1.1";
  headers[1] = target;
  headers[2] = "Authorization: AWS4-HMAC-SHA256 "
               "Credential=AKID/20150830/us-east-1/kinesis/aws4_request, "
               "SignedHeaders=host, Signature=abc";
  headers[3] = "X-Amz-Date: 20150830T123600Z";
  headers[4] = NULL;
  url = join_url(endpoint, "/");
  if (url == NULL)
    return -1;
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = url;
  req.body = json_body != NULL ? json_body : "{}";
  req.headers = headers;
  r = kn_test_http_request(&req, response_out, status_out);
  free(url);
  return r == 0 ? 0 : -1;
}
