#ifndef KN_EFO_H
#define KN_EFO_H

#include "client.h"
#include "codec.h"
#include "eventstream.h"

/*
 * Enhanced fan-out (issue 19): what a SubscribeToShard stream says, one
 * event-stream message (eventstream.h) at a time, and a subscription: the
 * call (kn_client_subscribe_to_shard(), over HTTP/2), its bytes decoded as
 * they arrive, each event handed on, and a pause that leaves the rest with
 * the server.
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


typedef struct kn_efo_sub_s kn_efo_sub_t;

typedef struct {
  /* Each SubscribeToShardEvent, in order. `event` is the caller's to keep
   * (moved out with a struct copy, then kn_parsed_free()d) or to leave,
   * and it is freed after the call. Returns 0, or a library error that
   * ends the subscription with that status. */
  int (*on_event)(void* arg, kn_parsed_t* event);
  /* The end, once: 0 when the service ended the stream (its 5 minutes
   * were up, or the shard's end was sent), else the error: one the service
   * sent as an exception or an HTTP answer, a transport error, a stream
   * that broke off inside a message (KINESIS_EPROTO), or KINESIS_ECANCELED
   * after kn_efo_sub_cancel(). `message` says what happened. The
   * subscription is freed after this returns. */
  void (*on_end)(void* arg, int status, const char* message);
  void* arg;
} kn_efo_handlers_t;

/* Subscribes to `start`'s shard through `consumer_arn` (`start`'s stream
 * is not used). Returns 0, KINESIS_EINVAL, KINESIS_ENOMEM or
 * KINESIS_ECLOSING; on error no handler ever runs. */
int kn_efo_subscribe(kinesis_client_t* client, const char* consumer_arn,
                     const kinesis_iterator_request_t* start,
                     const kn_efo_handlers_t* handlers, kn_efo_sub_t** out);

/* Stops taking events: the bytes that arrive from now on wait with curl,
 * and over HTTP/2 the stream's window closes, so the server holds the
 * rest. An event already decoded may still be handed on. */
void kn_efo_sub_pause(kn_efo_sub_t* sub);
/* Takes events again, from a later tick. */
void kn_efo_sub_resume(kn_efo_sub_t* sub);
/* The subscription's call, for the caller's bookkeeping (its `call`). */
kn_call_t* kn_efo_sub_call(const kn_efo_sub_t* sub);
/* Ends the subscription: on_end runs on a later tick with
 * KINESIS_ECANCELED, and no event is handed on after this call. Calling it
 * from inside on_end does nothing; after on_end has returned, `sub` is
 * freed and must not be used. */
void kn_efo_sub_cancel(kn_efo_sub_t* sub);

#endif /* KN_EFO_H */
