#include "url.h"
#include "internal.h"

#include <string.h>

#include "buf.h"

/* The longest IPv6 address in text, with its NUL (INET6_ADDRSTRLEN). */
#define KN_URL_IPV6_MAX 46


static void part_set(kn_url_part_t* p, size_t from, size_t to) {
  p->off = from;
  p->len = to - from;
  p->set = 1;
}


/* The first of `set`'s characters in [from, to) of `s`, or `to`. */
static size_t find_any(const char* s, size_t from, size_t to,
                       const char* set) {
  size_t n = strlen(set);
  while (from < to && memchr(set, s[from], n) == NULL)
    from++;
  return from;
}


/*
 * Finds the parts after the scheme, the authority starting at `auth`,
 * without checking any: the authority runs to the first '/', '?' or '#',
 * its user information to its last '@', the user to that information's
 * first ':'. `hostport` is the rest of the authority; `host` and `port` are
 * left for the caller. s[to] is never read, so the string needs no NUL.
 */
static void split(const char* s, size_t to, size_t auth, kn_url_t* u) {
  size_t end = find_any(s, auth, to, "/?#");
  size_t hp = auth;
  size_t i;

  for (i = auth; i < end; i++)
    if (s[i] == '@')
      hp = i + 1;
  if (hp > auth) {
    size_t colon = find_any(s, auth, hp - 1, ":");
    part_set(&u->user, auth, colon);
    if (colon < hp - 1)
      part_set(&u->password, colon + 1, hp - 1);
  }
  part_set(&u->hostport, hp, end);
  i = find_any(s, end, to, "?#");
  if (i > end)
    part_set(&u->path, end, i);
  if (i < to && s[i] == '?') {
    size_t q = i + 1;
    i = find_any(s, q, to, "#");
    part_set(&u->query, q, i);
  }
  if (i < to)
    part_set(&u->fragment, i + 1, to);
}


static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int is_digit(char c) {
  return c >= '0' && c <= '9';
}


/* RFC 3986's unreserved characters: all that a host name may hold here. */
static int is_host_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}


/* The IPv6 address at [off, off + len) of `s`, checked by libuv. */
static int ipv6_ok(const char* s, size_t off, size_t len) {
  char text[KN_URL_IPV6_MAX];
  unsigned char addr[16];
  if (len == 0 || len >= sizeof(text))
    return 0;
  memcpy(text, s + off, len);
  text[len] = '\0';
  /* uv_inet_pton() takes "addr%zone" too; a zone has no place in a URL's
   * host unescaped, and escaped it would need decoding first. */
  if (strchr(text, '%') != NULL)
    return 0;
  return uv_inet_pton(AF_INET6, text, addr) == 0;
}


/* Checks the authority's host[:port] and fills `host`, `port`,
 * `port_number` and `ipv6`. */
static int parse_hostport(const char* s, kn_url_t* u) {
  size_t from = u->hostport.off;
  size_t to = from + u->hostport.len;
  size_t host_end;
  size_t colon;
  size_t i;
  long v = 0;

  if (from == to)
    return KINESIS_EINVAL;
  if (s[from] == '[') {
    size_t close = find_any(s, from, to, "]");
    if (close == to || !ipv6_ok(s, from + 1, close - from - 1))
      return KINESIS_EINVAL;
    part_set(&u->host, from + 1, close);
    u->ipv6 = 1;
    colon = close + 1;
    if (colon < to && s[colon] != ':')
      return KINESIS_EINVAL;
  } else {
    colon = find_any(s, from, to, ":");
    host_end = colon;
    if (host_end == from)
      return KINESIS_EINVAL;
    for (i = from; i < host_end; i++)
      if (!is_host_char(s[i]))
        return KINESIS_EINVAL;
    part_set(&u->host, from, host_end);
  }
  if (colon >= to)
    return 0;
  part_set(&u->port, colon + 1, to);
  if (u->port.len == 0 || u->port.len > 5)
    return KINESIS_EINVAL;
  for (i = colon + 1; i < to; i++) {
    if (!is_digit(s[i]))
      return KINESIS_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  if (v < 1 || v > 65535)
    return KINESIS_EINVAL;
  u->port_number = (int) v;
  return 0;
}


int kn_url_parse(const char* url, size_t len, kn_url_t* out) {
  size_t i;
  size_t auth;
  size_t auth_len;

  if (url == NULL || out == NULL)
    return KINESIS_EINVAL;
  memset(out, 0, sizeof(*out));
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char) url[i];
    if (c <= ' ' || c == 0x7f)
      return KINESIS_EINVAL;
  }
  /* RFC 3986 section 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
  if (len == 0 || !is_alpha(url[0]))
    return KINESIS_EINVAL;
  for (i = 1; i < len && url[i] != ':'; i++)
    if (!is_alpha(url[i]) && !is_digit(url[i]) && url[i] != '+' &&
        url[i] != '-' && url[i] != '.')
      return KINESIS_EINVAL;
  if (len - i < 3 || memcmp(url + i, "://", 3) != 0)
    return KINESIS_EINVAL;
  part_set(&out->scheme, 0, i);
  auth = i + 3;
  split(url, len, auth, out);
  /* "http://127.0.0.1\@evil.example/": WHATWG parsers end the authority at
   * the backslash, this one at the '@'. Refusing it leaves no doubt. */
  auth_len = out->hostport.off + out->hostport.len - auth;
  if (memchr(url + auth, '\\', auth_len) != NULL)
    return KINESIS_EINVAL;
  return parse_hostport(url, out);
}


int kn_url_scheme_is(const char* url, const kn_url_t* u, const char* lower) {
  size_t i;
  if (strlen(lower) != u->scheme.len)
    return 0;
  for (i = 0; i < u->scheme.len; i++) {
    char c = url[u->scheme.off + i];
    if (c >= 'A' && c <= 'Z')
      c = (char) (c - 'A' + 'a');
    if (c != lower[i])
      return 0;
  }
  return 1;
}


int kn_url_decode(const char* url, const kn_url_part_t* part, char** out) {
  const char* s = url + part->off;
  size_t n = part->len;
  size_t i, j = 0;
  char* d = kn_malloc(n + 1);

  *out = NULL;
  if (d == NULL)
    return KINESIS_ENOMEM;
  for (i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi = i + 2 < n ? kn_hex_value(s[i + 1]) : -1;
      int lo = hi >= 0 ? kn_hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
        kn_free(d);
        return KINESIS_EINVAL;
      }
      d[j++] = (char) (hi * 16 + lo);
      i += 2;
    } else {
      d[j++] = s[i];
    }
  }
  d[j] = '\0';
  *out = d;
  return 0;
}


char* kn_url_for_message(const char* url) {
  const char* sep = strstr(url, "://");
  size_t auth = sep != NULL ? (size_t) (sep - url) + 3 : 0;
  size_t len = strlen(url);
  kn_url_t u;
  kn_buf_t b;

  memset(&u, 0, sizeof(u));
  split(url, len, auth, &u);
  kn_buf_init(&b);
  if (kn_buf_append(&b, url, auth) != 0 ||
      (u.user.set && kn_buf_append_str(&b, "***@") != 0) ||
      kn_buf_append(&b, url + u.hostport.off,
                    u.hostport.len + u.path.len) != 0 ||
      ((u.query.set || u.fragment.set) &&
       kn_buf_append_str(&b, "?***") != 0)) {
    kn_buf_free(&b);
    return NULL;
  }
  return kn_buf_steal(&b);
}
