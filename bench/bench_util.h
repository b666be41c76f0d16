#ifndef KN_BENCH_UTIL_H
#define KN_BENCH_UTIL_H

/* What the benchmarks against kinesalite share: facts about the machine and
 * the server process, CPU and wall time, argument parsing, running one
 * configuration in a child process, and a client on a private loop that
 * makes one call at a time. Every message is prefixed with the program's
 * name, given once to bench_client_open() or passed in. */

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "kinesis.h"

/* ---- Machine and server facts ---- */

/* The CPU's model name from /proc/cpuinfo, or "unknown". */
void bench_cpu_model(char* out, size_t size);

/* The process listening on the port of `endpoint_url`, found through
 * /proc/net/tcp{,6} and /proc/<pid>/fd; 0 when it cannot be seen. */
long bench_server_pid(const char* endpoint_url);

/* utime + stime of `pid`, all its threads, in seconds; -1 when
 * unreadable. */
double bench_process_cpu_s(long pid);

/* Prints the two header lines every benchmark starts with: the machine,
 * then the build and the server (`server` names it: "kinesalite"). */
void bench_print_header(const char* prog, const char* server,
                        const char* endpoint, long server_pid);

/* ---- Records ---- */

/* The 64-bit word at `p`, in the machine's byte order. */
uint64_t bench_load64(const uint8_t* p);

/* The sum of the little-endian 64-bit words of `len` bytes, the tail
 * summed as a short word: cheap, and any one changed byte changes it. */
uint64_t bench_checksum(const uint8_t* p, size_t len);

/* ---- Time and arguments ---- */

/* User + system time of `ru`, in seconds. */
double bench_rusage_cpu_s(const struct rusage* ru);

/* b - a, in seconds. */
double bench_tv_s(const struct timeval* a, const struct timeval* b);

/* A positive decimal; -1 for NULL, empty, negative, zero or junk. */
int bench_parse_u64(const char* s, uint64_t* out);

/* ---- Child processes ---- */

/* Runs fn(arg) in a child process and returns its exit status, or 1 when
 * it could not start or was killed. A child's ru_maxrss is its own, not
 * the largest of the runs before it. The parent must not have used libuv:
 * the child would share its epoll descriptor. */
int bench_run_child(const char* prog, const char* what, int (*fn)(void* arg),
                    void* arg);

/* ---- A client on a private loop, one call at a time ---- */

typedef struct bench_client_s {
  const char* prog;
  uv_loop_t loop;
  kinesis_client_t* client;
  int call_done;
  int call_status;
  char call_error[256];
  /* Set by bench_on_closed(); bench_wait_closed() waits for it. */
  int closed;
} bench_client_t;

/* Initializes the loop and a client for `endpoint` with fixed test
 * credentials. Returns 0, or 1 after printing why. */
int bench_client_open(bench_client_t* b, const char* prog,
                      const char* endpoint);

/* A kinesis_client_cb for bench_call_wait(); `arg` is the bench_client_t. */
void bench_on_call(kinesis_client_t* c, int status, const kinesis_result_t* res,
                   void* arg);

/* `r` is what the call that was given bench_on_call returned; runs the
 * loop until its callback. Returns its status, printed when not 0. */
int bench_call_wait(bench_client_t* b, const char* what, int r);

/* CreateStream with `nshards` shards, then waits until it is ACTIVE. */
int bench_create_stream(bench_client_t* b, const char* stream,
                        uint32_t nshards);

/* DeleteStream: kinesalite keeps every record in memory. */
int bench_delete_stream(bench_client_t* b, const char* stream);

/* A kinesis_close_cb; `arg` is the bench_client_t. */
void bench_on_closed(void* data, int status, void* arg);

/* Runs the loop until `closed` is set, then clears it. Returns 0, or -1
 * when the loop ran dry first. */
int bench_wait_closed(bench_client_t* b);

/* Closes the client, runs the loop dry and closes it. Returns 0, or 1
 * after printing what was left on the loop. */
int bench_client_close(bench_client_t* b);

#endif /* KN_BENCH_UTIL_H */
