#include "efo.h"

#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "error.h"


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
