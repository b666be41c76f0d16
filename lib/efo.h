#ifndef KN_EFO_H
#define KN_EFO_H

#include "codec.h"
#include "eventstream.h"

/*
 * Enhanced fan-out (issue 19): what a SubscribeToShard stream says, one
 * event-stream message (eventstream.h) at a time. The subscriptions
 * themselves, over HTTP/2, will live here too.
 */

typedef enum {
  /* The first event of a stream, which says nothing more (AWS sends it;
   * kinesis-mock does not). */
  KN_EFO_INITIAL_RESPONSE,
  /* A SubscribeToShardEvent, parsed into the caller's kn_parsed_t. */
  KN_EFO_EVENT,
  /* An event of another type: to be skipped, as the SDKs skip one they do
   * not know. */
  KN_EFO_UNKNOWN_EVENT,
  /* An exception or error message: the subscription's end, with `status`
   * and `error`. */
  KN_EFO_ERROR
} kn_efo_kind_t;

typedef struct {
  kn_efo_kind_t kind;
  /* KN_EFO_ERROR: the library's error for it, as for a call's answer
   * (ResourceInUseException is KINESIS_EINUSE, ...). */
  int status;
  /* KN_EFO_ERROR: its code and message; after KINESIS_EPROTO, what was
   * wrong, as the message. */
  kn_codec_error_t error;
} kn_efo_message_t;

/*
 * Reads one message of a SubscribeToShard stream into `msg`, and an
 * event's payload into `out` (kn_codec_parse_subscribe_event(), copied;
 * kn_parsed_free() it in every case). An exception carries its type in
 * :exception-type and a JSON message; an error, :error-code and
 * :error-message. Returns 0; KINESIS_EPROTO (no :message-type, an event
 * with no :event-type, an event whose payload is not its shape); or
 * KINESIS_ENOMEM.
 */
int kn_efo_read_message(const kn_es_message_t* m, kn_efo_message_t* msg,
                        kn_parsed_t* out);

#endif /* KN_EFO_H */
