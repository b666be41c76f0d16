/*
 * The URL parser (lib/url.c). Whatever kn_url_parse() accepts must give
 * the URL back when its parts are put together again, with a host, a port
 * in range and nothing it promises to refuse; the user information it finds
 * must decode or be refused cleanly; and kn_url_for_message(), which takes
 * any string, must show an accepted URL with its user information and query
 * replaced, and never fail but for memory.
 */

#include "fuzz.h"
#include "internal.h"
#include "url.h"

#include <stdlib.h>
#include <string.h>


static void check_part(const kn_url_part_t* p, size_t size) {
  CHECK(p->off <= size && p->len <= size - p->off);
  if (!p->set)
    CHECK(p->off == 0 && p->len == 0);
}


static char* append(char* out, const char* url, const kn_url_part_t* p) {
  memcpy(out, url + p->off, p->len);
  return out + p->len;
}


/* The parts of `u` put together again, into `out` (room for `size`
 * bytes); returns the length. */
static size_t rebuild(const char* url, const kn_url_t* u, char* out) {
  char* o = out;
  o = append(o, url, &u->scheme);
  memcpy(o, "://", 3);
  o += 3;
  if (u->user.set) {
    o = append(o, url, &u->user);
    if (u->password.set) {
      *o++ = ':';
      o = append(o, url, &u->password);
    }
    *o++ = '@';
  }
  o = append(o, url, &u->hostport);
  o = append(o, url, &u->path);
  if (u->query.set) {
    *o++ = '?';
    o = append(o, url, &u->query);
  }
  if (u->fragment.set) {
    *o++ = '#';
    o = append(o, url, &u->fragment);
  }
  return (size_t) (o - out);
}


static void check_decode(const char* url, const kn_url_part_t* p) {
  char* s = NULL;
  int r = kn_url_decode(url, p, &s);
  CHECK(r == 0 || r == KINESIS_EINVAL || r == KINESIS_ENOMEM);
  if (r == 0) {
    CHECK(s != NULL && strlen(s) <= p->len);
    kn_free(s);
  } else {
    CHECK(s == NULL);
  }
}


static void check_accepted(const char* url, size_t size, const kn_url_t* u) {
  const kn_url_part_t* parts[] = {&u->scheme, &u->user,     &u->password,
                                  &u->host,   &u->port,     &u->hostport,
                                  &u->path,   &u->query,    &u->fragment};
  char* again = malloc(size + 1);
  char* lower;
  size_t i;

  for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
    check_part(parts[i], size);
  for (i = 0; i < size; i++)
    CHECK((unsigned char) url[i] > ' ' && url[i] != 0x7f);
  CHECK(u->scheme.set && u->scheme.off == 0 && u->scheme.len > 0);
  CHECK(u->host.set && u->host.len > 0 && u->hostport.set);
  CHECK(u->host.off >= u->hostport.off &&
        u->host.off + u->host.len <= u->hostport.off + u->hostport.len);
  CHECK(u->ipv6 == (url[u->hostport.off] == '['));
  CHECK(memchr(url + u->host.off, '@', u->host.len) == NULL);
  CHECK(u->port.set == (u->port_number != 0));
  CHECK(u->port_number >= 0 && u->port_number <= 65535);
  if (u->port.set)
    CHECK(u->port.off + u->port.len == u->hostport.off + u->hostport.len &&
          u->port.len >= 1 && u->port.len <= 5);
  else
    CHECK(u->host.off + u->host.len + (size_t) u->ipv6 ==
          u->hostport.off + u->hostport.len);
  CHECK(!u->password.set || u->user.set);
  CHECK(!u->path.set || (u->path.len > 0 && url[u->path.off] == '/'));

  /* The parts are the whole URL, in order, and nothing else. */
  CHECK(again != NULL);
  CHECK(rebuild(url, u, again) == size && memcmp(again, url, size) == 0);
  free(again);

  /* The scheme matches its lowercase self. */
  lower = malloc(u->scheme.len + 1);
  CHECK(lower != NULL);
  for (i = 0; i < u->scheme.len; i++) {
    char c = url[i];
    lower[i] = c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
  }
  lower[u->scheme.len] = '\0';
  CHECK(kn_url_scheme_is(url, u, lower) == 1);
  free(lower);

  check_decode(url, &u->user);
  check_decode(url, &u->password);
}


/* For an accepted URL, what kn_url_for_message() must show. */
static void check_shown(const char* url, const kn_url_t* u,
                        const char* shown) {
  size_t n = u->scheme.len + 3;
  CHECK(memcmp(shown, url, n) == 0);
  if (u->user.set) {
    CHECK(memcmp(shown + n, "***@", 4) == 0);
    n += 4;
  }
  CHECK(memcmp(shown + n, url + u->hostport.off,
               u->hostport.len + u->path.len) == 0);
  n += u->hostport.len + u->path.len;
  if (u->query.set || u->fragment.set) {
    CHECK(strcmp(shown + n, "?***") == 0);
    n += 4;
  }
  CHECK(shown[n] == '\0');
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* url = (const char*) data;
  char* text;
  char* shown;
  kn_url_t u;
  int r = kn_url_parse(url, size, &u);

  CHECK(r == 0 || r == KINESIS_EINVAL);
  if (r == 0)
    check_accepted(url, size, &u);

  /* kn_url_for_message() takes a C string: the input up to any NUL. */
  text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  shown = kn_url_for_message(text);
  CHECK(shown != NULL);
  CHECK(strlen(shown) <= strlen(text) + 8);
  if (r == 0)
    check_shown(text, &u, shown);
  kn_free(shown);
  free(text);
  return 0;
}
