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

#endif /* KN_ERROR_H */
