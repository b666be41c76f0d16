/* An existing libuv TCP server that publishes each line it receives to a
 * Kinesis stream through the producer: the backpressure story end to end.
 * When the producer's buffer is full (KINESIS_EQUEUEFULL), the server stops
 * reading its sockets, so the senders' TCP windows fill and they slow down;
 * on_drain starts reading again. Nothing is dropped and nothing waits in an
 * unbounded queue.
 *
 * Usage: tcp_ingest STREAM [ENDPOINT] [PORT] [--once] [--queue N]
 *   PORT 0 (the default) picks a free port; the port is printed first.
 *   --once exits after the first connection closes and each of its lines
 *   has been acknowledged. --queue sets the producer's max_queue_size.
 * Region and credentials come from the environment (AWS_REGION, ...). */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kinesis.h>

#define LINE_MAX_BYTES 4096

typedef struct conn_s {
  uv_tcp_t tcp;
  struct conn_s* next;     /* the server's list of connections */
  char key[32];            /* its partition key: lines stay in order */
  char pending[LINE_MAX_BYTES];
  size_t npending;         /* bytes of a line not yet complete, or not put */
  int reading;
  int eof;
} conn_t;

static uv_loop_t* loop;
static uv_tcp_t server;
static uv_signal_t sigint;
static kinesis_client_t* client;
static kinesis_producer_t* producer;
static conn_t* conns;
static int once;
static int nconns;
static unsigned long received;      /* lines put */
static unsigned long acknowledged;  /* put callbacks with status 0 */
static unsigned long failed;
static unsigned long pauses;        /* times reading stopped on a full buffer */
static int stopping;


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  (void) p;
  (void) arg;
  if (status == 0) {
    acknowledged++;
  } else {
    failed++;
    fprintf(stderr, "tcp_ingest: a line failed: %s\n", res->error_message);
  }
}


/* Puts the complete lines at the front of c->pending. Returns 0 when all
 * went in, 1 when the buffer filled (the rest stays for on_drain). */
static int put_lines(conn_t* c) {
  for (;;) {
    char* nl = memchr(c->pending, '\n', c->npending);
    size_t len;
    kinesis_record_t rec;
    int r;
    if (nl == NULL) {
      /* A final line without a newline goes when the sender closes. */
      if (!c->eof || c->npending == 0)
        return 0;
      nl = c->pending + c->npending;
    }
    len = (size_t) (nl - c->pending);
    memset(&rec, 0, sizeof(rec));
    rec.data = c->pending;
    rec.len = len;
    rec.partition_key = c->key;
    r = len > 0 ? kinesis_producer_put(producer, &rec, on_put, NULL) : 0;
    if (r == KINESIS_EQUEUEFULL)
      return 1;
    if (r != 0)
      fprintf(stderr, "tcp_ingest: put: %s\n", kinesis_strerror(r));
    else if (len > 0)
      received++;
    len = len < c->npending ? len + 1 : len;
    memmove(c->pending, c->pending + len, c->npending - len);
    c->npending -= len;
  }
}


static void on_alloc(uv_handle_t* h, size_t hint, uv_buf_t* buf) {
  conn_t* c = h->data;
  (void) hint;
  buf->base = c->pending + c->npending;
  buf->len = sizeof(c->pending) - c->npending;
}


static void on_conn_closed(uv_handle_t* h) {
  conn_t* c = h->data;
  conn_t** pp;
  for (pp = &conns; *pp != c; pp = &(*pp)->next)
    ;
  *pp = c->next;
  free(c);
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status; /* each record's callback counted its own failure */
  (void) arg;
  fprintf(stderr, "tcp_ingest: %lu lines, %lu acknowledged, %lu failed, "
                  "reading paused %lu times\n",
          received, acknowledged, failed, pauses);
  kinesis_client_close(client, NULL, NULL);
}


static void stop(void) {
  conn_t* c;
  if (stopping)
    return;
  stopping = 1;
  uv_close((uv_handle_t*) &server, NULL);
  uv_close((uv_handle_t*) &sigint, NULL);
  for (c = conns; c != NULL; c = c->next)
    if (!uv_is_closing((uv_handle_t*) &c->tcp))
      uv_close((uv_handle_t*) &c->tcp, on_conn_closed);
  /* Close flushes what is buffered and settles every record first. */
  kinesis_producer_close(producer, on_producer_closed, NULL);
}


static void conn_done(conn_t* c) {
  uv_close((uv_handle_t*) &c->tcp, on_conn_closed);
  if (once)
    stop();
}


static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  conn_t* c = s->data;
  (void) buf;
  if (n == UV_EOF || n < 0) {
    c->eof = 1;
    uv_read_stop(s);
    c->reading = 0;
    if (put_lines(c) == 1) {
      pauses++;
      return;  /* on_drain puts the rest, then closes it */
    }
    conn_done(c);
    return;
  }
  c->npending += (size_t) n;
  if (put_lines(c) == 1) {
    uv_read_stop(s);
    c->reading = 0;
    pauses++;
  } else if (c->npending == sizeof(c->pending)) {
    fprintf(stderr, "tcp_ingest: a line over %d bytes: closing\n",
            LINE_MAX_BYTES);
    conn_done(c);
  }
}


/* The buffer fell below half: read again, after the lines held back. */
static void on_drain(kinesis_producer_t* p, void* arg) {
  conn_t* c;
  conn_t* next;
  (void) p;
  (void) arg;
  for (c = conns; c != NULL; c = next) {
    next = c->next;
    if (c->reading || uv_is_closing((uv_handle_t*) &c->tcp))
      continue;
    if (put_lines(c) == 1)
      return;  /* full again: the next drain goes on */
    if (c->eof) {
      conn_done(c);
      continue;
    }
    c->reading = 1;
    uv_read_start((uv_stream_t*) &c->tcp, on_alloc, on_read);
  }
}


static void on_connection(uv_stream_t* srv, int status) {
  conn_t* c;
  if (status < 0 || stopping)
    return;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t*) &c->tcp) != 0) {
    uv_close((uv_handle_t*) &c->tcp, NULL);
    free(c);
    return;
  }
  snprintf(c->key, sizeof(c->key), "conn-%d", ++nconns);
  c->next = conns;
  conns = c;
  c->reading = 1;
  uv_read_start((uv_stream_t*) &c->tcp, on_alloc, on_read);
}


static void on_signal(uv_signal_t* s, int signum) {
  (void) s;
  (void) signum;
  stop();
}


int main(int argc, char** argv) {
  kinesis_client_options_t co;
  kinesis_producer_options_t po;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int namelen = (int) sizeof(bound);
  const char* args[3] = {NULL, NULL, "0"};
  int nargs = 0;
  long queue = 0;
  int i;
  int r;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--once") == 0)
      once = 1;
    else if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc)
      queue = strtol(argv[++i], NULL, 10);
    else if (nargs < 3)
      args[nargs++] = argv[i];
  }
  if (args[0] == NULL) {
    fprintf(stderr, "usage: tcp_ingest STREAM [ENDPOINT] [PORT] [--once] "
                    "[--queue N]\n");
    return 2;
  }
  loop = uv_default_loop();
  kinesis_client_options_init(&co);
  co.endpoint_url = args[1];
  r = kinesis_client_new(loop, &co, &client);
  if (r != 0) {
    fprintf(stderr, "tcp_ingest: client: %s\n", kinesis_strerror(r));
    return 1;
  }
  kinesis_producer_options_init(&po);
  po.stream = args[0];
  po.buffer_time_ms = 100;
  po.on_drain = on_drain;
  if (queue > 0)
    po.max_queue_size = (uint32_t) queue;
  r = kinesis_producer_new(client, &po, &producer);
  if (r != 0) {
    fprintf(stderr, "tcp_ingest: producer: %s\n", kinesis_strerror(r));
    return 1;
  }

  uv_tcp_init(loop, &server);
  uv_ip4_addr("127.0.0.1", atoi(args[2]), &addr);
  if ((r = uv_tcp_bind(&server, (const struct sockaddr*) &addr, 0)) != 0 ||
      (r = uv_listen((uv_stream_t*) &server, 16, on_connection)) != 0) {
    fprintf(stderr, "tcp_ingest: listen: %s\n", uv_strerror(r));
    return 1;
  }
  uv_tcp_getsockname(&server, (struct sockaddr*) &bound, &namelen);
  printf("%d\n", ntohs(((struct sockaddr_in*) &bound)->sin_port));
  fflush(stdout);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);

  uv_run(loop, UV_RUN_DEFAULT);
  r = uv_loop_close(loop);
  return r == 0 && failed == 0 ? 0 : 1;
}
