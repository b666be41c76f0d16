#include "harness.h"

#include "internal.h"
#include "url.h"

#include <string.h>


/* The parts a URL should split into; NULL for a part that is not there. */
typedef struct {
  const char* url;
  const char* scheme;
  const char* user;
  const char* password;
  const char* host;
  const char* port;
  const char* hostport;
  const char* path;
  const char* query;
  const char* fragment;
  int port_number;
  int ipv6;
} url_case_t;


static void expect_part(const char* url, const kn_url_part_t* p,
                        const char* want, const char* what) {
  if (want == NULL) {
    if (p->set)
      fprintf(stderr, "%s: %s is set\n", url, what);
    ASSERT_EQ(0, p->set);
    ASSERT_EQ(0, p->len);
    return;
  }
  if (!p->set || p->len != strlen(want) ||
      memcmp(url + p->off, want, p->len) != 0)
    fprintf(stderr, "%s: %s is \"%.*s\" (set %d), not \"%s\"\n", url, what,
            (int) p->len, url + p->off, p->set, want);
  ASSERT_EQ(1, p->set);
  ASSERT_EQ(strlen(want), p->len);
  ASSERT_MEM_EQ(want, url + p->off, p->len);
}


static void expect_url(const url_case_t* c) {
  kn_url_t u;
  int r = kn_url_parse(c->url, strlen(c->url), &u);
  if (r != 0)
    fprintf(stderr, "refused: %s\n", c->url);
  ASSERT_OK(r);
  expect_part(c->url, &u.scheme, c->scheme, "scheme");
  expect_part(c->url, &u.user, c->user, "user");
  expect_part(c->url, &u.password, c->password, "password");
  expect_part(c->url, &u.host, c->host, "host");
  expect_part(c->url, &u.port, c->port, "port");
  expect_part(c->url, &u.hostport, c->hostport, "hostport");
  expect_part(c->url, &u.path, c->path, "path");
  expect_part(c->url, &u.query, c->query, "query");
  expect_part(c->url, &u.fragment, c->fragment, "fragment");
  ASSERT_EQ(c->port_number, u.port_number);
  ASSERT_EQ(c->ipv6, u.ipv6);
}


static void test_parts(void) {
  static const url_case_t cases[] = {
      {"http://h", "http", NULL, NULL, "h", NULL, "h", NULL, NULL, NULL, 0,
       0},
      {"https://kinesis.eu-west-1.amazonaws.com/", "https", NULL, NULL,
       "kinesis.eu-west-1.amazonaws.com", NULL,
       "kinesis.eu-west-1.amazonaws.com", "/", NULL, NULL, 0, 0},
      {"http://127.0.0.1:4567", "http", NULL, NULL, "127.0.0.1", "4567",
       "127.0.0.1:4567", NULL, NULL, NULL, 4567, 0},
      {"redis://user:pw@host:6380/2", "redis", "user", "pw", "host", "6380",
       "host:6380", "/2", NULL, NULL, 6380, 0},
      /* An empty user and an empty password are there, and empty. */
      {"redis://:secret@h", "redis", "", "secret", "h", NULL, "h", NULL,
       NULL, NULL, 0, 0},
      {"redis://user:@h", "redis", "user", "", "h", NULL, "h", NULL, NULL,
       NULL, 0, 0},
      {"http://user@h/", "http", "user", NULL, "h", NULL, "h", "/", NULL,
       NULL, 0, 0},
      {"http://@h", "http", "", NULL, "h", NULL, "h", NULL, NULL, NULL, 0, 0},
      /* The last '@' ends the user information; the first ':' ends the
       * user. */
      {"redis://us@er:p@s:s@h:1", "redis", "us@er", "p@s:s", "h", "1", "h:1",
       NULL, NULL, NULL, 1, 0},
      /* Escapes are left for kn_url_decode(). */
      {"redis://u%40x:p%25@h", "redis", "u%40x", "p%25", "h", NULL, "h",
       NULL, NULL, NULL, 0, 0},
      /* IPv6 in brackets: the host is without them, hostport with. */
      {"http://[::1]:8080/x", "http", NULL, NULL, "::1", "8080", "[::1]:8080",
       "/x", NULL, NULL, 8080, 1},
      {"http://[fd00:ec2::23]", "http", NULL, NULL, "fd00:ec2::23", NULL,
       "[fd00:ec2::23]", NULL, NULL, NULL, 0, 1},
      {"http://[::ffff:192.0.2.1]/", "http", NULL, NULL, "::ffff:192.0.2.1",
       NULL, "[::ffff:192.0.2.1]", "/", NULL, NULL, 0, 1},
      {"http://u:p@[2001:db8::1]:1", "http", "u", "p", "2001:db8::1", "1",
       "[2001:db8::1]:1", NULL, NULL, NULL, 1, 1},
      /* Query and fragment, each possibly empty. */
      {"http://h/p/q?a=1&b=2#frag", "http", NULL, NULL, "h", NULL, "h",
       "/p/q", "a=1&b=2", "frag", 0, 0},
      {"http://h?x", "http", NULL, NULL, "h", NULL, "h", NULL, "x", NULL, 0,
       0},
      {"http://h#f?x", "http", NULL, NULL, "h", NULL, "h", NULL, NULL, "f?x",
       0, 0},
      {"http://h/?", "http", NULL, NULL, "h", NULL, "h", "/", "", NULL, 0, 0},
      {"http://h#", "http", NULL, NULL, "h", NULL, "h", NULL, NULL, "", 0, 0},
      /* A '@' after the authority is the path's. */
      {"http://h/a@b", "http", NULL, NULL, "h", NULL, "h", "/a@b", NULL, NULL,
       0, 0},
      /* Ports: the bounds, and leading zeros within five digits. */
      {"http://h:65535", "http", NULL, NULL, "h", "65535", "h:65535", NULL,
       NULL, NULL, 65535, 0},
      {"http://h:00080", "http", NULL, NULL, "h", "00080", "h:00080", NULL,
       NULL, NULL, 80, 0},
      /* Schemes: any case, digits, '+', '-' and '.' after the first. */
      {"HTTPS://H_x~y-z.", "HTTPS", NULL, NULL, "H_x~y-z.", NULL, "H_x~y-z.",
       NULL, NULL, NULL, 0, 0},
      {"a1+b-c.d://h", "a1+b-c.d", NULL, NULL, "h", NULL, "h", NULL, NULL,
       NULL, 0, 0},
      /* Non-ASCII bytes are allowed after the host. */
      {"http://h/\xc3\xa9?\xc3\xa9", "http", NULL, NULL, "h", NULL, "h",
       "/\xc3\xa9", "\xc3\xa9", NULL, 0, 0},
  };
  size_t i;
  for (i = 0; i < KN_ARRAY_SIZE(cases); i++)
    expect_url(&cases[i]);
}


static void test_refused(void) {
  static const char* const refused[] = {
      /* No scheme, or not one. */
      "",
      "h",
      "127.0.0.1:80",
      "//h/",
      "://h",
      "http:/h",
      "http:h",
      "1http://h",
      "ht tp://h",
      "ht_tp://h",
      "http//h",
      /* Empty hosts. */
      "http://",
      "http:///path",
      "http://?q",
      "http://#f",
      "http://:80",
      "http://user:pw@",
      "http://user@:80/",
      /* Host names: only unreserved characters. */
      "http://h%41/",
      "http://a,b/",
      "http://a!b/",
      "http://a*b/",
      "http://a=b/",
      "http://\xc3\xa9/",
      "http://[/",
      "http://a]/",
      /* IPv6. */
      "http://[]/",
      "http://[::1/",
      "http://[::1]x/",
      "http://[::1]:/",
      "http://[::g]/",
      "http://[1:2:3:4:5:6:7:8:9]/",
      "http://[127.0.0.1]/",
      "http://[fe80::1%25eth0]/",
      "http://[fe80::1%eth0]/",
      "http://[::1]]/",
      "http://[[::1]]/",
      "http://[0000:0000:0000:0000:0000:0000:0000:0000:1]/",
      /* Ports. */
      "http://h:",
      "http://h:/",
      "http://h:0",
      "http://h:65536",
      "http://h:99999",
      "http://h:123456",
      "http://h:000080",
      "http://h:-1",
      "http://h:+80",
      "http://h:8a",
      "http://h:80:81",
      "http://h: 80",
      /* Control characters, spaces, DEL, anywhere. */
      "http://h/a b",
      "http://h/\t",
      "http://h/\r\nX-Injected: 1",
      "http://h\n/",
      " http://h",
      "http://h ",
      "http://h/\x7f",
      "http://u:p\x01@h/",
      /* A backslash in the authority. */
      "http://127.0.0.1\\@evil.example/",
      "http://h\\/",
      "http://u\\:p@h/",
  };
  size_t i;
  kn_url_t u;

  for (i = 0; i < KN_ARRAY_SIZE(refused); i++) {
    int r = kn_url_parse(refused[i], strlen(refused[i]), &u);
    if (r != KINESIS_EINVAL)
      fprintf(stderr, "accepted: %s\n", refused[i]);
    ASSERT_EQ(KINESIS_EINVAL, r);
  }
  /* A backslash after the authority is the path's. */
  ASSERT_OK(kn_url_parse("http://h/a\\b", 12, &u));
  ASSERT_EQ(KINESIS_EINVAL, kn_url_parse(NULL, 0, &u));
  ASSERT_EQ(KINESIS_EINVAL, kn_url_parse("http://h", 8, NULL));
}


static void test_length(void) {
  kn_url_t u;
  /* Only `len` bytes are read: what follows does not count... */
  ASSERT_OK(kn_url_parse("http://h:80/x y", 13, &u));
  ASSERT_EQ(80, u.port_number);
  ASSERT_EQ(1, u.path.set);
  ASSERT_EQ(2, u.path.len);
  ASSERT_OK(kn_url_parse("http://host:1", 11, &u));
  ASSERT_EQ(0, u.port.set);
  ASSERT_EQ(4, u.host.len);
  ASSERT_EQ(KINESIS_EINVAL, kn_url_parse("http://host:1", 12, &u));
  ASSERT_OK(kn_url_parse("http://host:1", 13, &u));
  ASSERT_EQ(1, u.port_number);
  ASSERT_EQ(KINESIS_EINVAL, kn_url_parse("http://host:1", 6, &u));
  /* ...and a NUL among them is refused. */
  ASSERT_EQ(KINESIS_EINVAL, kn_url_parse("http://h\0.evil", 14, &u));
  ASSERT_EQ(KINESIS_EINVAL, kn_url_parse("http://h/\0", 10, &u));
}


static void test_scheme_is(void) {
  kn_url_t u;
  const char* url = "HtTpS://h";
  ASSERT_OK(kn_url_parse(url, strlen(url), &u));
  ASSERT_EQ(1, kn_url_scheme_is(url, &u, "https"));
  ASSERT_EQ(0, kn_url_scheme_is(url, &u, "http"));
  ASSERT_EQ(0, kn_url_scheme_is(url, &u, "httpss"));
  ASSERT_EQ(0, kn_url_scheme_is(url, &u, ""));
  url = "redis://h";
  ASSERT_OK(kn_url_parse(url, strlen(url), &u));
  ASSERT_EQ(1, kn_url_scheme_is(url, &u, "redis"));
  ASSERT_EQ(0, kn_url_scheme_is(url, &u, "rediss"));
}


static void expect_decoded(const char* part, const char* want) {
  kn_url_part_t p = {0, strlen(part), 1};
  char* out = (char*) 1;
  ASSERT_OK(kn_url_decode(part, &p, &out));
  ASSERT_STR_EQ(want, out);
  kn_free(out);
}


static void expect_not_decoded(const char* part) {
  kn_url_part_t p = {0, strlen(part), 1};
  char* out = (char*) 1;
  ASSERT_EQ(KINESIS_EINVAL, kn_url_decode(part, &p, &out));
  ASSERT_NULL(out);
}


static void test_decode(void) {
  const char* url = "redis://us%40er:p%3a%2F%7e@h/";
  kn_url_t u;
  char* s;

  expect_decoded("", "");
  expect_decoded("plain", "plain");
  expect_decoded("%41%62%7a", "Abz");
  expect_decoded("a%2fb%2Fc", "a/b/c");
  expect_decoded("%25%2525", "%%25");
  expect_decoded("%c3%A9", "\xc3\xa9");
  expect_decoded("+", "+");
  expect_not_decoded("%");
  expect_not_decoded("%4");
  expect_not_decoded("a%4");
  expect_not_decoded("%zz");
  expect_not_decoded("%4g");
  expect_not_decoded("%g4");
  expect_not_decoded("%00");
  expect_not_decoded("ok%00ok");

  ASSERT_OK(kn_url_parse(url, strlen(url), &u));
  ASSERT_OK(kn_url_decode(url, &u.user, &s));
  ASSERT_STR_EQ("us@er", s);
  kn_free(s);
  ASSERT_OK(kn_url_decode(url, &u.password, &s));
  ASSERT_STR_EQ("p:/~", s);
  kn_free(s);
  /* A part that is not there decodes to "". */
  ASSERT_OK(kn_url_decode(url, &u.query, &s));
  ASSERT_STR_EQ("", s);
  kn_free(s);
}


static void expect_shown(const char* url, const char* want) {
  char* s = kn_url_for_message(url);
  ASSERT_NOT_NULL(s);
  if (strcmp(s, want) != 0)
    fprintf(stderr, "%s shown as %s\n", url, s);
  ASSERT_STR_EQ(want, s);
  kn_free(s);
}


static void test_for_message(void) {
  expect_shown("http://h/p", "http://h/p");
  expect_shown("https://user:secret@h:1/p", "https://***@h:1/p");
  expect_shown("redis://:secret@h", "redis://***@h");
  expect_shown("redis://user@h", "redis://***@h");
  expect_shown("redis://us@er:p@ss@h:1/2", "redis://***@h:1/2");
  expect_shown("http://h/p?token=secret", "http://h/p?***");
  expect_shown("http://h/p?", "http://h/p?***");
  expect_shown("http://h/p#secret", "http://h/p?***");
  expect_shown("http://u:p@h?x#y", "http://***@h?***");
  /* A '@' in the path is not user information. */
  expect_shown("http://h/a@b", "http://h/a@b");
  /* Strings the parser refuses are shown all the same. */
  expect_shown("", "");
  expect_shown("h", "h");
  expect_shown("user:secret@h/p?q", "***@h/p?***");
  expect_shown("http://", "http://");
  expect_shown("http://u:p@", "http://***@");
  expect_shown("http://[::1/p?q", "http://[::1/p?***");
  expect_shown("http://bad host:99999/p", "http://bad host:99999/p");
  expect_shown("ftp://a:b@c", "ftp://***@c");
  /* Only the first "://" counts. */
  expect_shown("http://h/?next=http://u:p@e", "http://h/?***");
}


/* Every allocation of kn_url_decode() and kn_url_for_message() failing in
 * turn: KINESIS_ENOMEM or NULL, and nothing leaked. */
static void test_failmalloc(void) {
  const char* url = "redis://u%40:p@h/?q";
  kn_url_t u;
  int i;

  ASSERT_OK(kn_url_parse(url, strlen(url), &u));
  kn_test_alloc_install();
  for (i = 0; i < 8; i++) {
    char* s = NULL;
    int r;
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    r = kn_url_decode(url, &u.user, &s);
    if (i == 0)
      ASSERT_EQ(KINESIS_ENOMEM, r);
    if (r == 0) {
      ASSERT_STR_EQ("u@", s);
      kn_free(s);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_NULL(s);
    }
    ASSERT_EQ(0, kn_test_alloc_live);
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    s = kn_url_for_message(url);
    if (i == 0)
      ASSERT_NULL(s);
    if (s != NULL) {
      ASSERT_STR_EQ("redis://***@h/?***", s);
      kn_free(s);
    }
    ASSERT_EQ(0, kn_test_alloc_live);
  }
  kn_test_alloc_fail_at = -1;
}


KN_TEST_MAIN(KN_TEST(test_parts), KN_TEST(test_refused),
             KN_TEST(test_length), KN_TEST(test_scheme_is),
             KN_TEST(test_decode), KN_TEST(test_for_message),
             KN_TEST(test_failmalloc))
