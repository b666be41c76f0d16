/* Built against an installed or bundled libkinesis by test/packaging.sh:
 * the public header compiles, the library links, and a client opens and
 * closes on a loop with every handle closed. No server is needed. */

#include <stdio.h>
#include <string.h>

#include <kinesis.h>

static int closed;


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (void) arg;
  closed = 1;
}


int main(void) {
  kinesis_client_options_t o;
  kinesis_client_t* client;
  uv_loop_t loop;
  int r;

  if (strcmp(kinesis_version_string(), KINESIS_VERSION_STRING) != 0) {
    fprintf(stderr, "header %s, library %s\n", KINESIS_VERSION_STRING,
            kinesis_version_string());
    return 1;
  }
  if (uv_loop_init(&loop) != 0)
    return 1;
  kinesis_client_options_init(&o);
  o.region = "us-east-1";
  o.endpoint_url = "http://127.0.0.1:1";
  o.access_key_id = "AKIDPACKAGING";
  o.secret_access_key = "packaging";
  r = kinesis_client_new(&loop, &o, &client);
  if (r != 0) {
    fprintf(stderr, "kinesis_client_new: %s\n", kinesis_strerror(r));
    return 1;
  }
  if (kinesis_client_close(client, on_closed, NULL) != 0)
    return 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!closed || uv_loop_close(&loop) != 0) {
    fprintf(stderr, "the client did not close cleanly\n");
    return 1;
  }
  printf("libkinesis %s: linked, a client opened and closed\n",
         kinesis_version_string());
  return 0;
}
