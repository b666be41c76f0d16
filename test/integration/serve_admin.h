#ifndef KN_TEST_SERVE_ADMIN_H
#define KN_TEST_SERVE_ADMIN_H

#include <stddef.h>

#include <uv.h>

#include "kinesis/testing.h"

/* POSTs `body` to the admin request LibkinesisServe.`op` of `serve`
 * (unsigned, over a plain HTTP/1.1 connection on `loop`), runs the loop
 * until the answer, and returns its HTTP status, with its body copied into
 * `out`. */
int serve_admin(uv_loop_t* loop, const kinesis_serve_t* serve,
                const char* op, const char* body, char* out, size_t size);

#endif /* KN_TEST_SERVE_ADMIN_H */
