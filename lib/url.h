#ifndef KN_URL_H
#define KN_URL_H

#include <stddef.h>

/*
 * The one URL parser of the library, for the endpoints and addresses that
 * users and the environment hand it: the Kinesis endpoint, the Redis
 * checkpointer's URL, the container credentials URL, the STS and IAM
 * Identity Center endpoints. It reads RFC 3986's
 *
 *   scheme "://" [user [":" password] "@"] host [":" port] [path]
 *     ["?" query] ["#" fragment]
 *
 * without allocating: each part is an offset and a length into the string
 * parsed. What a caller does not want (a query, user information, a path)
 * it refuses itself; what no caller wants, the parser refuses.
 */

/* One part of a URL: [off, off + len) of the string parsed. `set` tells an
 * empty part that is there ("http://h/?" has an empty query) from one that
 * is not. */
typedef struct kn_url_part_s {
  size_t off;
  size_t len;
  int set;
} kn_url_part_t;

typedef struct kn_url_s {
  kn_url_part_t scheme;   /* before "://", as written (any case) */
  kn_url_part_t user;     /* set when there is user information ("@") */
  kn_url_part_t password; /* set when the user information has a ':' */
  kn_url_part_t host;     /* never empty; an IPv6 address without [] */
  kn_url_part_t port;     /* the digits, set when there is a ':' */
  /* host[:port] as written, brackets included: a Host header's value. */
  kn_url_part_t hostport;
  kn_url_part_t path;     /* from its '/'; unset when there is none */
  kn_url_part_t query;    /* after the '?' */
  kn_url_part_t fragment; /* after the '#' */
  int port_number;        /* 1 to 65535, or 0 when no port is given */
  int ipv6;               /* the host was an IPv6 address in brackets */
} kn_url_t;

/*
 * Splits the `len` bytes at `url` into `out`. The user information ends at
 * the last '@' before the path, so a password may hold an unescaped '@',
 * and the password starts after the first ':'. Returns 0, or
 * KINESIS_EINVAL, `out` then undefined, for `url` or `out` NULL and for:
 * - no scheme: it must be a letter, then letters, digits, '+', '-' or '.',
 *   then "://";
 * - a control character, a space, DEL or a NUL anywhere;
 * - a backslash before the path, which some parsers take for a '/';
 * - an empty host; a host name of anything but letters, digits, '-', '.',
 *   '_' and '~' (percent-escapes included); a bracketed host that is not
 *   an IPv6 address (zone identifiers included), or with anything but
 *   ":port" after its ']';
 * - a ':' without a port, or a port that is not 1 to 65535 in at most five
 *   digits.
 * Percent-escapes elsewhere are left as they are; kn_url_decode() decodes
 * a part.
 */
int kn_url_parse(const char* url, size_t len, kn_url_t* out);

/* 1 when the scheme of `url`, parsed into `u`, is `lower` (a lowercase
 * scheme), compared without regard to case as RFC 3986 section 3.1 asks;
 * else 0. */
int kn_url_scheme_is(const char* url, const kn_url_t* u, const char* lower);

/*
 * A kn_malloc'd, NUL-terminated, percent-decoded copy of `part` of `url`,
 * in *out. Returns 0, KINESIS_EINVAL (a '%' not followed by two hex
 * digits, or an escaped NUL, which a C string cannot hold) or
 * KINESIS_ENOMEM; *out is NULL on failure.
 */
int kn_url_decode(const char* url, const kn_url_part_t* part, char** out);

/*
 * `url` fit for a message or a log line: the user information becomes
 * "***@" and anything after the path (query and fragment) "?***", since
 * both may carry secrets. Works on any string, URL or not, so that a
 * refused URL can be shown: the parts are found as kn_url_parse() finds
 * them, without its checks, and a string without "://" is taken as
 * starting with the host. kn_malloc'd; NULL when out of memory.
 */
char* kn_url_for_message(const char* url);

#endif /* KN_URL_H */
