#include "bench_util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif


/* ---- Machine and server facts ---- */

void bench_cpu_model(char* out, size_t size) {
  char line[512];
  FILE* f = fopen("/proc/cpuinfo", "r");
  snprintf(out, size, "unknown");
  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f) != NULL) {
    char* colon;
    size_t len;
    if (strncmp(line, "model name", 10) != 0)
      continue;
    colon = strchr(line, ':');
    if (colon == NULL)
      break;
    colon++;
    while (*colon == ' ' || *colon == '\t')
      colon++;
    len = strcspn(colon, "\n");
    snprintf(out, size, "%.*s", (int) len, colon);
    break;
  }
  fclose(f);
}


/* The port of "scheme://host:port[/...]", or 0. */
static unsigned endpoint_port(const char* url) {
  const char* host = strstr(url, "://");
  const char* end;
  const char* colon = NULL;
  const char* s;
  host = host != NULL ? host + 3 : url;
  end = host + strcspn(host, "/");
  for (s = host; s < end; s++)
    if (*s == ':')
      colon = s;
  if (colon == NULL || colon + 1 == end)
    return 0;
  return (unsigned) strtoul(colon + 1, NULL, 10);
}


/* The inode of a socket listening on `port`, from /proc/net/tcp{,6}, or 0. */
static unsigned long listening_inode(unsigned port) {
  static const char* const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  size_t i;
  for (i = 0; i < 2; i++) {
    char line[512];
    FILE* f = fopen(files[i], "r");
    if (f == NULL)
      continue;
    while (fgets(line, sizeof(line), f) != NULL) {
      unsigned lport;
      unsigned state;
      unsigned long inode;
      /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
       * inode; 0A is TCP_LISTEN. */
      if (sscanf(line, "%*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu",
                 &lport, &state, &inode) == 3 &&
          lport == port && state == 0x0A && inode != 0) {
        fclose(f);
        return inode;
      }
    }
    fclose(f);
  }
  return 0;
}


/* The process holding socket `inode`, by scanning /proc/<pid>/fd; 0 when
 * none is visible (another user's processes cannot be read). */
static long socket_owner(unsigned long inode) {
  char want[64];
  DIR* proc = opendir("/proc");
  struct dirent* de;
  long found = 0;
  if (proc == NULL)
    return 0;
  snprintf(want, sizeof(want), "socket:[%lu]", inode);
  while (found == 0 && (de = readdir(proc)) != NULL) {
    char path[300];
    DIR* fds;
    struct dirent* fe;
    if (!isdigit((unsigned char) de->d_name[0]))
      continue;
    snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
    fds = opendir(path);
    if (fds == NULL)
      continue;
    while ((fe = readdir(fds)) != NULL) {
      char target[64];
      ssize_t len;
      if (fe->d_name[0] == '.')
        continue;
      len = readlinkat(dirfd(fds), fe->d_name, target, sizeof(target) - 1);
      if (len <= 0)
        continue;
      target[len] = '\0';
      if (strcmp(target, want) == 0) {
        found = strtol(de->d_name, NULL, 10);
        break;
      }
    }
    closedir(fds);
  }
  closedir(proc);
  return found;
}


long bench_server_pid(const char* endpoint_url) {
  unsigned port = endpoint_port(endpoint_url);
  unsigned long inode;
  if (port == 0)
    return 0;
  inode = listening_inode(port);
  return inode != 0 ? socket_owner(inode) : 0;
}


double bench_process_cpu_s(long pid) {
  char path[64];
  char buf[1024];
  char* p;
  size_t len;
  unsigned long utime;
  unsigned long stime;
  FILE* f;
  if (pid <= 0)
    return -1;
  snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  len = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[len] = '\0';
  /* The command name may hold spaces and parentheses: fields resume after
   * the last ')'. utime and stime are fields 14 and 15; this is field 3. */
  p = strrchr(buf, ')');
  if (p == NULL ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
             &utime, &stime) != 2)
    return -1;
  return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}


void bench_print_header(const char* prog, const char* server,
                        const char* endpoint, long server_pid) {
  char model[256];
  bench_cpu_model(model, sizeof(model));
  printf("# %s: %ld CPUs, %s\n", prog, sysconf(_SC_NPROCESSORS_ONLN), model);
  /* The benchmarks are built with the library's flags, so this is the
   * library's build too. */
  printf("# libkinesis %s, %s build, asserts %s; %s at %s",
         KINESIS_VERSION_STRING,
#ifdef __OPTIMIZE__
         "optimized",
#else
         "unoptimized",
#endif
#ifdef NDEBUG
         "off",
#else
         "on",
#endif
         server, endpoint);
  if (server_pid != 0)
    printf(" (pid %ld; its CPU counts all its servers, the others idle)\n",
           server_pid);
  else
    printf(" (server process not found: no server CPU)\n");
}


/* ---- Records ---- */

uint64_t bench_load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}


uint64_t bench_checksum(const uint8_t* p, size_t len) {
  uint64_t sum = 0;
  size_t i;
  for (i = 0; i + 8 <= len; i += 8)
    sum += bench_load64(p + i);
  for (; i < len; i++)
    sum += (uint64_t) p[i] << (8 * (i % 8));
  return sum;
}


/* ---- Time and arguments ---- */

double bench_rusage_cpu_s(const struct rusage* ru) {
  return (double) ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
         (double) ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}


double bench_tv_s(const struct timeval* a, const struct timeval* b) {
  return (double) (b->tv_sec - a->tv_sec) +
         (double) (b->tv_usec - a->tv_usec) / 1e6;
}


int bench_parse_u64(const char* s, uint64_t* out) {
  char* end;
  unsigned long long v;
  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0)
    return -1;
  *out = v;
  return 0;
}


/* ---- Child processes ---- */

int bench_run_child(const char* prog, const char* what, int (*fn)(void* arg),
                    void* arg) {
  pid_t pid;
  int status;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0) {
    fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
    return 1;
  }
  if (pid == 0) {
#ifdef __linux__
    /* Do not outlive the parent when with-servers.sh stops it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    status = fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(status);
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      fprintf(stderr, "%s: waitpid: %s\n", prog, strerror(errno));
      return 1;
    }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  fprintf(stderr, "%s: %s: killed by signal %d\n", prog, what,
          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 1;
}


/* ---- A client on a private loop, one call at a time ---- */

int bench_client_open(bench_client_t* b, const char* prog,
                      const char* endpoint) {
  kinesis_client_options_t co;
  int r;
  memset(b, 0, sizeof(*b));
  b->prog = prog;
  if (uv_loop_init(&b->loop) != 0) {
    fprintf(stderr, "%s: uv_loop_init failed\n", prog);
    return 1;
  }
  kinesis_client_options_init(&co);
  co.endpoint_url = endpoint;
  co.region = "us-east-1";
  co.access_key_id = "AKIDBENCH";
  co.secret_access_key = "bench-secret-key";
  r = kinesis_client_new(&b->loop, &co, &b->client);
  if (r != 0) {
    fprintf(stderr, "%s: client: %s\n", prog, kinesis_strerror(r));
    return 1;
  }
  return 0;
}


void bench_on_call(kinesis_client_t* c, int status, const kinesis_result_t* res,
                   void* arg) {
  bench_client_t* b = arg;
  (void) c;
  b->call_done = 1;
  b->call_status = status;
  snprintf(b->call_error, sizeof(b->call_error), "%s%s%s",
           res->error_code != NULL ? res->error_code : "",
           res->error_code != NULL ? ": " : "",
           res->error_message != NULL ? res->error_message : "");
}


int bench_call_wait(bench_client_t* b, const char* what, int r) {
  if (r != 0) {
    fprintf(stderr, "%s: %s: %s\n", b->prog, what, kinesis_strerror(r));
    return r;
  }
  while (!b->call_done)
    if (uv_run(&b->loop, UV_RUN_ONCE) == 0 && !b->call_done) {
      fprintf(stderr, "%s: %s: the loop ran dry\n", b->prog, what);
      return KINESIS_EPROTO;
    }
  b->call_done = 0;
  if (b->call_status != 0)
    fprintf(stderr, "%s: %s: %s (%s)\n", b->prog, what,
            kinesis_strerror(b->call_status), b->call_error);
  return b->call_status;
}


int bench_create_stream(bench_client_t* b, const char* stream,
                        uint32_t nshards) {
  int r = bench_call_wait(b, "CreateStream",
                          kinesis_client_create_stream(
                              b->client, stream, nshards, bench_on_call, b));
  if (r != 0)
    return r;
  return bench_call_wait(b, "wait for ACTIVE",
                         kinesis_client_wait_for_active(b->client, stream, 50,
                                                        0, bench_on_call, b));
}


int bench_delete_stream(bench_client_t* b, const char* stream) {
  return bench_call_wait(
      b, "DeleteStream",
      kinesis_client_delete_stream(b->client, stream, bench_on_call, b));
}


void bench_on_closed(void* data, int status, void* arg) {
  bench_client_t* b = arg;
  (void) data;
  (void) status;
  b->closed = 1;
}


int bench_wait_closed(bench_client_t* b) {
  while (!b->closed)
    if (uv_run(&b->loop, UV_RUN_ONCE) == 0 && !b->closed)
      return -1;
  b->closed = 0;
  return 0;
}


int bench_client_close(bench_client_t* b) {
  if (kinesis_client_close(b->client, bench_on_closed, b) != 0 ||
      bench_wait_closed(b) != 0) {
    fprintf(stderr, "%s: the client did not close\n", b->prog);
    return 1;
  }
  uv_run(&b->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&b->loop) != 0) {
    fprintf(stderr, "%s: FAILED: handles left on the loop:\n", b->prog);
    uv_print_all_handles(&b->loop, stderr);
    return 1;
  }
  return 0;
}
