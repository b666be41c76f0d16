/*
 * The kinesis command's stream commands: create-stream, delete-stream,
 * describe-stream, the stream management commands (list-streams to
 * update-max-record-size) and whoami.
 */

#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


static void shard_phrase(const cli_t* cli, char* buf, size_t size) {
  if (cli->on_demand)
    snprintf(buf, size, "on-demand");
  else
    snprintf(buf, size, "%lu shard%s", cli->shards,
             cli->shards == 1 ? "" : "s");
}


/* ---- create-stream ---- */

static void on_stream_active(kinesis_client_t* client, int status,
                             const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  char shards[64];

  (void) client;
  if (status != 0) {
    report_failure(cli, status, res);
    finish(cli, CLI_EXIT_FAIL);
    return;
  }
  shard_phrase(cli, shards, sizeof(shards));
  err_line("created stream %s (%s), %s", cli->stream, shards,
           res->summary != NULL && res->summary->stream_status != NULL
               ? res->summary->stream_status
               : "ACTIVE");
  finish(cli, CLI_EXIT_OK);
}


void on_stream_created(kinesis_client_t* client, int status,
                              const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  char shards[64];
  int r;

  if (status != 0) {
    report_failure(cli, status, res);
    finish(cli, CLI_EXIT_FAIL);
    return;
  }
  if (cli->wait) {
    r = kinesis_client_wait_for_active(client, cli->stream, 0, 0,
                                       on_stream_active, cli);
    if (r != 0)
      call_failed(cli, r);
    return;
  }
  shard_phrase(cli, shards, sizeof(shards));
  err_line("creating stream %s (%s)", cli->stream, shards);
  finish(cli, CLI_EXIT_OK);
}


/* ---- delete-stream ---- */

void on_stream_deleted(kinesis_client_t* client, int status,
                              const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;

  (void) client;
  if (status != 0) {
    report_failure(cli, status, res);
    finish(cli, CLI_EXIT_FAIL);
    return;
  }
  err_line("deleting stream %s", cli->stream);
  finish(cli, CLI_EXIT_OK);
}


/* ---- describe-stream ---- */

/* Writes the JSON built in `cli->json`, with a newline, and ends the run. */
static void print_json(cli_t* cli) {
  jw_t* w = &cli->json;

  sb_append(&w->out, "\n", 1);
  if (w->out.failed) {
    err_line("%s: %s", cli->cmd->name, kinesis_strerror(KINESIS_ENOMEM));
    finish(cli, CLI_EXIT_FAIL);
    return;
  }
  fwrite(w->out.data, 1, w->out.len, stdout);
  finish(cli, CLI_EXIT_OK);
}


/* "Shards": [...], as ListShards writes them. */
static void jw_shards(jw_t* w, const kinesis_result_t* res) {
  size_t i;

  jw_open(w, "Shards", '[');
  for (i = 0; i < res->nshards; i++) {
    const kinesis_shard_t* s = &res->shards[i];
    jw_open(w, NULL, '{');
    jw_string(w, "ShardId", s->shard_id);
    jw_string(w, "ParentShardId", s->parent_shard_id);
    jw_string(w, "AdjacentParentShardId", s->adjacent_parent_shard_id);
    if (s->starting_hash_key != NULL || s->ending_hash_key != NULL) {
      jw_open(w, "HashKeyRange", '{');
      jw_string(w, "StartingHashKey", s->starting_hash_key);
      jw_string(w, "EndingHashKey", s->ending_hash_key);
      jw_close(w, '}');
    }
    if (s->starting_sequence_number != NULL ||
        s->ending_sequence_number != NULL) {
      jw_open(w, "SequenceNumberRange", '{');
      jw_string(w, "StartingSequenceNumber", s->starting_sequence_number);
      jw_string(w, "EndingSequenceNumber", s->ending_sequence_number);
      jw_close(w, '}');
    }
    jw_close(w, '}');
  }
  jw_close(w, ']');
}


/* A failed call: its error, and the end of the run. Returns 1 then. */
static int call_status_failed(cli_t* cli, int status,
                              const kinesis_result_t* res) {
  if (status == 0)
    return 0;
  report_failure(cli, status, res);
  finish(cli, CLI_EXIT_FAIL);
  return 1;
}


static void on_shards_listed(kinesis_client_t* client, int status,
                             const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;

  (void) client;
  if (call_status_failed(cli, status, res))
    return;
  /* list-shards prints the shards alone; describe-stream after the
   * summary. */
  if (cli->cmd->id == CMD_LIST_SHARDS)
    jw_open(w, NULL, '{');
  jw_shards(w, res);
  jw_close(w, '}');
  print_json(cli);
}


void on_summary(kinesis_client_t* client, int status,
                       const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;
  const kinesis_stream_summary_t* s = res->summary;
  int r;

  if (status == 0 && s == NULL)
    status = KINESIS_EPROTO;
  if (call_status_failed(cli, status, res))
    return;
  /* The summary is only valid during this callback: write it out now. */
  jw_open(w, NULL, '{');
  jw_string(w, "StreamName", s->stream_name);
  jw_string(w, "StreamARN", s->stream_arn);
  jw_string(w, "StreamStatus", s->stream_status);
  jw_string(w, "StreamMode", s->stream_mode);
  jw_uint(w, "RetentionPeriodHours", s->retention_period_hours);
  jw_seconds(w, "StreamCreationTimestamp", s->creation_timestamp);
  jw_uint(w, "OpenShardCount", s->open_shard_count);
  jw_string(w, "EncryptionType", s->encryption_type);
  jw_string(w, "KeyId", s->key_id);
  if (s->max_record_size_kib > 0)
    jw_uint(w, "MaxRecordSizeInKiB", s->max_record_size_kib);
  r = kinesis_client_list_shards(client, cli->stream, on_shards_listed, cli);
  if (r != 0)
    call_failed(cli, r);
}


/* ---- The stream management commands ---- */

static void on_streams_listed(kinesis_client_t* client, int status,
                              const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;
  size_t i;

  (void) client;
  if (call_status_failed(cli, status, res))
    return;
  jw_open(w, NULL, '{');
  jw_open(w, "StreamNames", '[');
  for (i = 0; i < res->nstream_names; i++)
    jw_string(w, NULL, res->stream_names[i]);
  jw_close(w, ']');
  jw_close(w, '}');
  print_json(cli);
}


static void on_tags_listed(kinesis_client_t* client, int status,
                           const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;
  size_t i;

  (void) client;
  if (call_status_failed(cli, status, res))
    return;
  jw_open(w, NULL, '{');
  jw_open(w, "Tags", '[');
  for (i = 0; i < res->ntags; i++) {
    jw_open(w, NULL, '{');
    jw_string(w, "Key", res->tags[i].key);
    jw_string(w, "Value",
              res->tags[i].value != NULL ? res->tags[i].value : "");
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_close(w, '}');
  print_json(cli);
}


static void on_shard_count_updated(kinesis_client_t* client, int status,
                                   const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;

  (void) client;
  if (call_status_failed(cli, status, res))
    return;
  jw_open(w, NULL, '{');
  jw_string(w, "StreamName", cli->stream);
  if (res->current_shard_count > 0)
    jw_uint(w, "CurrentShardCount", res->current_shard_count);
  jw_uint(w, "TargetShardCount",
          res->target_shard_count > 0 ? res->target_shard_count
                                      : cli->mgmt.target_shard_count);
  jw_close(w, '}');
  print_json(cli);
}


/* What a command whose answer is empty says on stderr when it worked. */
static void mgmt_done_line(const cli_t* cli, char* buf, size_t size) {
  const mgmt_t* m = &cli->mgmt;
  const char* key = m->key_id != NULL ? m->key_id : KINESIS_DEFAULT_KMS_KEY;

  switch (cli->cmd->id) {
    case CMD_SPLIT_SHARD:
      if (m->hash_key != NULL)
        snprintf(buf, size, "splitting shard %s of stream %s at hash key %s",
                 m->shard_id, cli->stream, m->hash_key);
      else
        snprintf(buf, size, "splitting shard %s of stream %s in the middle",
                 m->shard_id, cli->stream);
      break;
    case CMD_MERGE_SHARDS:
      snprintf(buf, size, "merging shards %s and %s of stream %s",
               m->shard_id, m->adjacent_shard_id, cli->stream);
      break;
    case CMD_UPDATE_STREAM_MODE:
      snprintf(buf, size, "switching stream %s to %s", cli->stream,
               m->mode == KINESIS_STREAM_MODE_ON_DEMAND ? "ON_DEMAND"
                                                        : "PROVISIONED");
      break;
    case CMD_INCREASE_RETENTION:
    case CMD_DECREASE_RETENTION:
      snprintf(buf, size, "stream %s keeps records %lu hours", cli->stream,
               m->retention_hours);
      break;
    case CMD_START_ENCRYPTION:
      snprintf(buf, size, "encrypting stream %s with KMS key %s", cli->stream,
               key);
      break;
    case CMD_STOP_ENCRYPTION:
      snprintf(buf, size, "no longer encrypting stream %s", cli->stream);
      break;
    case CMD_ADD_TAGS:
      snprintf(buf, size, "tagged stream %s with %zu tag%s", cli->stream,
               m->ntags, m->ntags == 1 ? "" : "s");
      break;
    case CMD_REMOVE_TAGS:
      snprintf(buf, size, "removed %zu tag%s from stream %s", m->nkeys,
               m->nkeys == 1 ? "" : "s", cli->stream);
      break;
    case CMD_UPDATE_MAX_RECORD_SIZE:
      snprintf(buf, size, "stream %s takes records up to %lu KiB",
               cli->stream, m->max_record_kib);
      break;
    case CMD_DEREGISTER_CONSUMER:
      if (m->consumer_arn != NULL)
        snprintf(buf, size, "deregistering consumer %s", m->consumer_arn);
      else
        snprintf(buf, size, "deregistering consumer %s of stream %s",
                 m->consumer_name, cli->stream);
      break;
    default:
      snprintf(buf, size, "done");
      break;
  }
}


/* The commands whose answer is empty: a line on stderr. */
static void on_mgmt_done(kinesis_client_t* client, int status,
                         const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  char line[512];

  (void) client;
  if (call_status_failed(cli, status, res))
    return;
  mgmt_done_line(cli, line, sizeof(line));
  err_line("%s", line);
  finish(cli, CLI_EXIT_OK);
}


/* ---- Enhanced fan-out consumers ---- */

/* One consumer as the service writes it, under `key` (NULL in an array). */
static void write_consumer(jw_t* w, const char* key,
                           const kinesis_stream_consumer_t* k) {
  jw_open(w, key, '{');
  jw_string(w, "ConsumerName", k->consumer_name);
  jw_string(w, "ConsumerARN", k->consumer_arn);
  jw_string(w, "ConsumerStatus", k->consumer_status);
  if (k->creation_timestamp > 0)
    jw_seconds(w, "ConsumerCreationTimestamp", k->creation_timestamp);
  jw_string(w, "StreamARN", k->stream_arn);
  jw_close(w, '}');
}


/* register-consumer, describe-consumer and list-consumers: the answer as
 * JSON, under the member the service uses. */
static void on_consumers(kinesis_client_t* client, int status,
                         const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;
  size_t i;

  (void) client;
  if (call_status_failed(cli, status, res))
    return;
  jw_open(w, NULL, '{');
  if (cli->cmd->id == CMD_LIST_CONSUMERS) {
    jw_open(w, "Consumers", '[');
    for (i = 0; i < res->nconsumers; i++)
      write_consumer(w, NULL, &res->consumers[i]);
    jw_close(w, ']');
  } else if (res->nconsumers > 0) {
    write_consumer(w,
                   cli->cmd->id == CMD_REGISTER_CONSUMER
                       ? "Consumer"
                       : "ConsumerDescription",
                   &res->consumers[0]);
  }
  jw_close(w, '}');
  print_json(cli);
}


/* ---- whoami ---- */

static void on_identity(kinesis_client_t* client, int status,
                        const kinesis_identity_t* id, const char* message,
                        void* arg) {
  cli_t* cli = arg;
  jw_t* w = &cli->json;
  char when[32];

  (void) client;
  if (status != 0) {
    err_line("%s: %s", cli->cmd->name,
             message != NULL ? message : kinesis_strerror(status));
    finish(cli, CLI_EXIT_FAIL);
    return;
  }
  jw_open(w, NULL, '{');
  jw_string(w, "Source", id->source);
  jw_string(w, "Profile", id->profile);
  jw_string(w, "RoleArn", id->role_arn);
  jw_string(w, "AccessKeyIdLast4", id->access_key_id_last4);
  if (id->expiration_ms > 0) {
    time_t t = (time_t) (id->expiration_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL &&
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
      jw_string(w, "Expiration", when);
  }
  jw_close(w, '}');
  print_json(cli);
}


int mgmt_start(cli_t* cli) {
  kinesis_client_t* c = cli->client;
  const mgmt_t* m = &cli->mgmt;
  const char* s = cli->stream;

  switch (cli->cmd->id) {
    case CMD_LIST_STREAMS:
      return kinesis_client_list_streams(c, on_streams_listed, cli);
    case CMD_LIST_SHARDS:
      return kinesis_client_list_shards(c, s, on_shards_listed, cli);
    case CMD_UPDATE_SHARD_COUNT:
      return kinesis_client_update_shard_count(
          c, s, (uint32_t) m->target_shard_count, on_shard_count_updated, cli);
    case CMD_SPLIT_SHARD:
      return kinesis_client_split_shard(c, s, m->shard_id, m->hash_key,
                                        on_mgmt_done, cli);
    case CMD_MERGE_SHARDS:
      return kinesis_client_merge_shards(c, s, m->shard_id,
                                         m->adjacent_shard_id, on_mgmt_done,
                                         cli);
    case CMD_UPDATE_STREAM_MODE:
      return kinesis_client_update_stream_mode(c, s, m->mode, on_mgmt_done,
                                               cli);
    case CMD_INCREASE_RETENTION:
      return kinesis_client_increase_stream_retention(
          c, s, (uint32_t) m->retention_hours, on_mgmt_done, cli);
    case CMD_DECREASE_RETENTION:
      return kinesis_client_decrease_stream_retention(
          c, s, (uint32_t) m->retention_hours, on_mgmt_done, cli);
    case CMD_START_ENCRYPTION:
      return kinesis_client_start_stream_encryption(c, s, m->key_id,
                                                    on_mgmt_done, cli);
    case CMD_STOP_ENCRYPTION:
      return kinesis_client_stop_stream_encryption(c, s, m->key_id,
                                                   on_mgmt_done, cli);
    case CMD_ADD_TAGS:
      return kinesis_client_add_tags(c, s, m->tags, m->ntags, on_mgmt_done,
                                     cli);
    case CMD_REMOVE_TAGS:
      return kinesis_client_remove_tags(c, s, m->keys, m->nkeys,
                                        on_mgmt_done, cli);
    case CMD_LIST_TAGS:
      return kinesis_client_list_tags(c, s, on_tags_listed, cli);
    case CMD_UPDATE_MAX_RECORD_SIZE:
      return kinesis_client_update_max_record_size(
          c, s, (uint32_t) m->max_record_kib, on_mgmt_done, cli);
    case CMD_REGISTER_CONSUMER:
      return kinesis_client_register_stream_consumer(c, s, m->consumer_name,
                                                     on_consumers, cli);
    case CMD_DESCRIBE_CONSUMER:
      return kinesis_client_describe_stream_consumer(
          c, s, m->consumer_name, m->consumer_arn, on_consumers, cli);
    case CMD_LIST_CONSUMERS:
      return kinesis_client_list_stream_consumers(c, s, on_consumers, cli);
    case CMD_DEREGISTER_CONSUMER:
      return kinesis_client_deregister_stream_consumer(
          c, s, m->consumer_name, m->consumer_arn, on_mgmt_done, cli);
    case CMD_WHOAMI:
      return kinesis_client_identity(c, on_identity, cli);
    default: return KINESIS_EINVAL;
  }
}
