#ifndef KN_TEST_SERVICE_H
#define KN_TEST_SERVICE_H

/* The Kinesis endpoint of a test's cases that need only a Kinesis service.
 *
 * With KINESIS_TEST_SERVICE=in-process (test/meson.build sets it where the
 * fake service is built), it is the library's own fake service
 * (kinesis/testing.h), started at the first call on a loop of its own in a
 * thread of the test's process, with every throughput limit off, and closed
 * at exit. Otherwise it is KINESIS_TEST_ENDPOINT, kinesalite's, which
 * test/with-servers.sh exports (the test is skipped, or fails under CI=true,
 * without it).
 *
 * Why a thread and not the test's loop: each case makes its own loops and
 * checks that uv_loop_close() returns 0 at its end, and many run a loop until
 * it has nothing left; a service on its own loop serves every case as
 * kinesalite did from another process, and the cases run unchanged against
 * either. Only that thread touches the service; the URL is copied before the
 * first call returns. At exit the service and its loop are closed, and the
 * thread stays parked until the process ends (service.c says why). */
const char* test_endpoint(void);

#endif
