/* A checkpointer that keeps checkpoints in a file: a template for writing
 * your own store against kinesis_checkpointer_ops_t (include/kinesis/
 * checkpoint.h; the contract is in docs/checkpointers.md "Writing your
 * own"). examples/custom_checkpointer.c runs a consumer with it. */

#ifndef EXAMPLES_FILE_CHECKPOINTER_H
#define EXAMPLES_FILE_CHECKPOINTER_H

#include <stdint.h>

#include <kinesis.h>

/**
 * Opens the checkpoint file `path` (it need not exist yet) for this
 * process, on `loop`. Checkpoints and finished shards are kept in the file,
 * which is rewritten atomically (a temporary file, fsync, rename) before a
 * checkpoint or finish is answered, so they survive a crash. Leases and
 * memberships live in memory: one process at a time may use a file (a lock
 * on `path`.lock makes sure), and consumers inside that process share its
 * shards through it. A lease not renewed for `session_timeout_ms` (0: 10000)
 * lapses, measured on the loop's clock.
 *
 * Stream and shard names may not contain tabs or line breaks (the file is
 * tab-separated; Kinesis names never do): such calls return KINESIS_EINVAL.
 *
 * Returns 0 and sets `*out`; KINESIS_EINVAL (NULL arguments, or a file that
 * is not one of ours, reported on stderr); KINESIS_EBUSY (another process
 * has the file); KINESIS_ENOMEM; or a libuv error code such as UV_EACCES.
 * Close it with kinesis_checkpointer_close() once its consumers are closed.
 */
int file_checkpointer_new(uv_loop_t* loop, const char* path,
                          uint32_t session_timeout_ms,
                          kinesis_checkpointer_t** out);

#endif /* EXAMPLES_FILE_CHECKPOINTER_H */
