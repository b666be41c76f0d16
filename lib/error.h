#ifndef KN_ERROR_H
#define KN_ERROR_H

/* Error codes: their names and messages (kinesis_strerror,
 * kinesis_err_name), which ones are worth a retry
 * (kinesis_err_is_retriable), and where service errors map to. */

/*
 * Maps a service error to a KINESIS_E* code: by `code` (already stripped of
 * namespaces) when it is known, else by HTTP status. protocol.md section 3.
 */
int kn_error_from_service(const char* code, long http_status);

#include <stddef.h>

/*
 * The length of the service's error message `m` that may be shown: nothing
 * from a canonical request on. A signature mismatch is answered with the
 * canonical request the service expected, whose headers may hold the
 * session token (x-amz-security-token); that part never reaches a result,
 * a log line or the kinesis command's output. With `first_line`, also
 * nothing past the first line. Trailing spaces and punctuation go too.
 */
size_t kn_error_message_len(const char* m, int first_line);

#endif /* KN_ERROR_H */
