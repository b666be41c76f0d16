#include "efo.h"

#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "http.h"


/* A STRING header's value, NUL-terminated into `out`; "" when absent. */
static void header_text(const kn_es_message_t* m, const char* name, char* out,
                        size_t size) {
  const kn_es_header_t* h = kn_es_header(m, name);
  if (h == NULL || h->type != KN_ES_STRING) {
    out[0] = '\0';
    return;
  }
  snprintf(out, size, "%.*s", (int) h->bytes.len, (const char*) h->bytes.ptr);
}


static int refuse(kn_efo_message_t* msg, const char* why) {
  snprintf(msg->error.message, sizeof(msg->error.message), "%s", why);
  msg->error.has_message = 1;
  return KINESIS_EPROTO;
}


int kn_efo_read_message(const kn_es_message_t* m, kn_efo_message_t* msg,
                        kn_parsed_t* out) {
  char kind[16];
  char type[128];
  int r;

  memset(msg, 0, sizeof(*msg));
  memset(out, 0, sizeof(*out));
  out->millis_behind_latest = -1;
  header_text(m, ":message-type", kind, sizeof(kind));
  if (strcmp(kind, "event") == 0) {
    header_text(m, ":event-type", type, sizeof(type));
    if (type[0] == '\0')
      return refuse(msg, "SubscribeToShard: an event without :event-type");
    if (strcmp(type, "initial-response") == 0) {
      msg->kind = KN_EFO_INITIAL_RESPONSE;
      return 0;
    }
    if (strcmp(type, "SubscribeToShardEvent") != 0) {
      msg->kind = KN_EFO_UNKNOWN_EVENT;
      return 0;
    }
    msg->kind = KN_EFO_EVENT;
    r = kn_codec_parse_subscribe_event(m->payload.ptr, m->payload.len, NULL,
                                       out);
    if (r == KINESIS_EPROTO)
      return refuse(msg, out->error != NULL
                             ? out->error
                             : "SubscribeToShardEvent: not the event's JSON");
    return r;
  }
  if (strcmp(kind, "exception") == 0) {
    header_text(m, ":exception-type", type, sizeof(type));
    msg->kind = KN_EFO_ERROR;
    kn_codec_parse_error(m->payload.ptr, m->payload.len,
                         type[0] != '\0' ? type : NULL, &msg->error);
    msg->status = kn_error_from_service(
        msg->error.has_code ? msg->error.code : NULL, 400);
    return 0;
  }
  if (strcmp(kind, "error") == 0) {
    msg->kind = KN_EFO_ERROR;
    header_text(m, ":error-code", msg->error.code, sizeof(msg->error.code));
    header_text(m, ":error-message", msg->error.message,
                sizeof(msg->error.message));
    msg->error.has_code = msg->error.code[0] != '\0';
    msg->error.has_message = msg->error.message[0] != '\0';
    msg->status = kn_error_from_service(
        msg->error.has_code ? msg->error.code : NULL, 500);
    return 0;
  }
  return refuse(msg, "SubscribeToShard: a message without :message-type "
                     "event, exception or error");
}


/* ---- Subscriptions ---- */

struct kn_efo_sub_s {
  kinesis_client_t* client;
  kn_call_t* call;
  kn_es_decoder_t decoder;
  kn_efo_handlers_t h;
  int want_pause;
  int paused;         /* curl holds the bytes since the pause */
  int canceled;       /* kn_efo_sub_cancel(): no more events */
  int error;          /* what a message said, once one ended the stream */
  char message[sizeof(((kn_codec_error_t*) 0)->code) +
               sizeof(((kn_codec_error_t*) 0)->message) + 2];
};


static int on_message(void* arg, const kn_es_message_t* m) {
  kn_efo_sub_t* sub = arg;
  kn_efo_message_t msg;
  kn_parsed_t event;
  int r;

  /* Canceled from inside on_event: the rest of the bytes are not read. */
  if (sub->canceled)
    return KINESIS_ECANCELED;
  r = kn_efo_read_message(m, &msg, &event);

  if (r == 0 && msg.kind == KN_EFO_EVENT) {
    r = sub->h.on_event(sub->h.arg, &event);
    kn_parsed_free(&event);
    if (r != 0)
      snprintf(sub->message, sizeof(sub->message), "%s", kinesis_strerror(r));
  } else {
    kn_parsed_free(&event);
    if (r == 0 && msg.kind == KN_EFO_ERROR)
      r = msg.status;
    if (r != 0)
      snprintf(sub->message, sizeof(sub->message), "%s%s%s",
               msg.error.has_code ? msg.error.code : "",
               msg.error.has_code && msg.error.has_message ? ": " : "",
               msg.error.has_message ? msg.error.message
                                     : kinesis_strerror(r));
  }
  if (r != 0)
    sub->error = r;
  return r;
}


static int on_bytes(void* arg, long status, const uint8_t* data, size_t len) {
  kn_efo_sub_t* sub = arg;
  int r;
  (void) status;
  if (sub->canceled)
    return KINESIS_ECANCELED;
  if (sub->want_pause) {
    sub->paused = 1;
    return KN_HTTP_PAUSE;
  }
  r = kn_es_decoder_feed(&sub->decoder, data, len, on_message, sub);
  if (r != 0 && sub->error == 0 && !sub->canceled) {
    /* The bytes themselves were wrong. */
    sub->error = r;
    snprintf(sub->message, sizeof(sub->message), "SubscribeToShard: %s",
             r == KINESIS_EPROTO ? sub->decoder.error : kinesis_strerror(r));
  }
  return r;
}


static void on_ended(kinesis_client_t* client, int status,
                     const kinesis_result_t* res, void* arg) {
  kn_efo_sub_t* sub = arg;
  const char* message = res->error_message;
  (void) client;
  if (sub->error != 0) {
    /* The call's status is the abort's; the message is the stream's. */
    status = sub->error;
    message = sub->message;
  } else if (status == 0 && !kn_es_decoder_idle(&sub->decoder)) {
    status = KINESIS_EPROTO;
    message = "SubscribeToShard: the stream ended inside a message";
  }
  sub->h.on_end(sub->h.arg, status,
                message != NULL ? message : kinesis_strerror(status));
  kn_es_decoder_free(&sub->decoder);
  kn_free(sub);
}


int kn_efo_subscribe(kinesis_client_t* client, const char* consumer_arn,
                     const kinesis_iterator_request_t* start,
                     const kn_efo_handlers_t* handlers, kn_efo_sub_t** out) {
  kn_efo_sub_t* sub;
  int r;

  if (handlers == NULL || handlers->on_event == NULL ||
      handlers->on_end == NULL || out == NULL)
    return KINESIS_EINVAL;
  sub = kn_calloc(1, sizeof(*sub));
  if (sub == NULL)
    return KINESIS_ENOMEM;
  sub->client = client;
  sub->h = *handlers;
  kn_es_decoder_init(&sub->decoder);
  r = kn_client_subscribe_to_shard(client, consumer_arn, start, on_bytes, sub,
                                   on_ended, sub, &sub->call);
  if (r != 0) {
    kn_es_decoder_free(&sub->decoder);
    kn_free(sub);
    return r;
  }
  *out = sub;
  return 0;
}


void kn_efo_sub_pause(kn_efo_sub_t* sub) {
  sub->want_pause = 1;
}


void kn_efo_sub_resume(kn_efo_sub_t* sub) {
  sub->want_pause = 0;
  if (sub->paused) {
    sub->paused = 0;
    kn_client_call_resume(sub->call);
  }
}


kn_call_t* kn_efo_sub_call(const kn_efo_sub_t* sub) {
  return sub->call;
}


void kn_efo_sub_cancel(kn_efo_sub_t* sub) {
  sub->canceled = 1;
  kn_client_call_cancel(sub->call);
}
