/*
 * Runs a libFuzzer harness over saved inputs without libFuzzer, so that
 * every build (gcc included) replays the seed corpus and past crashes under
 * whatever sanitizers it was configured with.
 *
 *   fuzz_replay_<name> DIR_OR_FILE...
 *
 * A directory that does not exist is skipped: regressions/<name>/ may be
 * empty, and git keeps no empty directories. Running no input at all is a
 * failure, so a misplaced corpus cannot pass unnoticed.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"


/* Feeds one file to the harness. The input is copied into an allocation of
 * exactly its size, as libFuzzer does, so ASan catches reads past the end. */
static int run_file(const char* path) {
  FILE* f = fopen(path, "rb");
  uint8_t* data;
  long size;

  if (f == NULL) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "replay: %s: cannot size\n", path);
    fclose(f);
    return -1;
  }
  /* malloc(0) may return NULL; keep one byte but pass size 0. */
  data = malloc(size > 0 ? (size_t) size : 1);
  if (data == NULL ||
      (size > 0 && fread(data, 1, (size_t) size, f) != (size_t) size)) {
    fprintf(stderr, "replay: %s: cannot read\n", path);
    free(data);
    fclose(f);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(data, (size_t) size);
  free(data);
  return 0;
}


static int compare_names(const void* a, const void* b) {
  return strcmp(*(char* const*) a, *(char* const*) b);
}


/* Runs every regular file of `dir`, in name order so runs are repeatable. */
static int run_dir(const char* dir, size_t* count) {
  DIR* d = opendir(dir);
  struct dirent* e;
  char** names = NULL;
  size_t n = 0;
  size_t cap = 0;
  size_t i;
  int r = 0;

  if (d == NULL) {
    if (errno == ENOENT) {
      printf("replay: %s does not exist, skipped\n", dir);
      return 0;
    }
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      char** grown;
      cap = cap ? cap * 2 : 32;
      grown = realloc(names, cap * sizeof(*names));
      if (grown == NULL) {
        r = -1;
        break;
      }
      names = grown;
    }
    names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
    if (names[n] == NULL) {
      r = -1;
      break;
    }
    sprintf(names[n], "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  if (n > 0)
    qsort(names, n, sizeof(*names), compare_names);
  for (i = 0; i < n; i++) {
    struct stat st;
    if (r == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      r = run_file(names[i]);
      if (r == 0)
        (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return r;
}


int main(int argc, char** argv) {
  size_t count = 0;
  int i;

  for (i = 1; i < argc; i++) {
    struct stat st;
    int r;
    if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
      r = run_file(argv[i]);
      count += r == 0;
    } else {
      r = run_dir(argv[i], &count);
    }
    if (r != 0)
      return 1;
  }
  printf("replay: %zu inputs, no failure\n", count);
  if (count == 0) {
    fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  return 0;
}
