/*
 * The kinesis command's arguments: the command and option tables, their
 * parsing and checks, usage errors, --help and --version.
 */

#include "cli.h"

#include "encoding.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* CreateStream's ShardCount is a positive 32-bit signed integer. */
#define CLI_MAX_SHARDS 2147483647UL


/* tail: --idle-exit is in whole seconds, at most this many (a uint32_t of
 * milliseconds). */
#define TAIL_MAX_IDLE_SECONDS 4294967UL
/* tail: --app is at most this long, so that the owner name stays short. */
#define TAIL_MAX_APP_LEN 128
/* tail: --session-timeout, in whole seconds: at most a day. */
#define TAIL_MAX_SESSION_SECONDS 86400UL
/* --stats-every, in whole seconds: at most a day. */
#define STATS_MAX_EVERY_SECONDS 86400UL


/* ---- Commands and options ---- */

/* The statistics options of put and tail. */
#define STATS_HELP                                                            \
  "  --stats              Print statistics on stderr at the end: the\n"      \
  "                       client's calls, retries and request latencies\n"  \
  "                       by operation, and the producer's or consumer's\n" \
  "                       counters, shard by shard\n"                        \
  "  --stats-every SECONDS\n"                                                \
  "                       Also print them every SECONDS while running\n"    \
  "  --stats-format FORMAT\n"                                                \
  "                       text (default) or prometheus (the Prometheus\n"   \
  "                       text format)\n"

static const command_t commands[] = {
    {"create-stream", CMD_CREATE_STREAM,
     "--stream NAME [--shards N | --on-demand] [--wait]",
     "Create a stream",
     "Creates a stream. Prints nothing on stdout; a one-line confirmation\n"
     "goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME   The stream name (required)\n"
     "  --shards N      A provisioned stream with N shards (default 1)\n"
     "  --on-demand     An on-demand stream (capacity managed by Kinesis)\n"
     "  --wait          Wait until the stream is ACTIVE (at most 2 minutes)\n"},
    {"delete-stream", CMD_DELETE_STREAM, "--stream NAME",
     "Delete a stream",
     "Deletes a stream (it goes through DELETING). Prints nothing on stdout;\n"
     "a one-line confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME   The stream name or ARN (required)\n"},
    {"describe-stream", CMD_DESCRIBE_STREAM, "--stream NAME",
     "Print a stream's summary and shards as JSON",
     "Prints one JSON object on stdout: the stream summary\n"
     "(DescribeStreamSummary: status, mode, retention, encryption and its\n"
     "KMS key, record size limit) and every shard (ListShards) under\n"
     "\"Shards\".\n"
     "\n"
     "Options:\n"
     "  --stream NAME   The stream name or ARN (required)\n"},
    {"put", CMD_PUT,
     "--stream NAME [--partition-key KEY] [--aggregate]\n"
     "                   [--format lines|json] [--ordered]\n"
     "                   [--stall-timeout SECONDS] [--record-ttl MS] "
     "[--rate-limit N]\n"
     "                   [--stats] [--stats-every SECONDS] "
     "[--stats-format F]",
     "Put records read from stdin, one a line",
     "Reads records from stdin, one a line, and puts them into the stream\n"
     "with the producer: batched per shard (PutRecords), rate-limited and\n"
     "retried. Input formats:\n"
     "  lines   Each line is one record's data, without its newline (and\n"
     "          a trailing \"\\r\"). An empty line is an empty record.\n"
     "  json    Each line is one JSON object: {\"data\": \"text\"} or\n"
     "          {\"data_b64\": \"BASE64\"}, with optional \"partition_key\"\n"
     "          and \"explicit_hash_key\" (a decimal from 0 to 2^128-1).\n"
     "\n"
     "Each record gets a random partition key unless the line's\n"
     "\"partition_key\" or --partition-key gives one. A line that cannot be\n"
     "put (bad JSON, too large, a bad key) and a record that fails after its\n"
     "retries are reported as \"kinesis: put: line N: ...\"; the other lines\n"
     "go on. When stderr is a terminal a progress line is shown. At the end\n"
     "one summary line goes to stderr. Nothing is printed on stdout. The\n"
     "exit status is 0 only when every record was acknowledged by Kinesis.\n"
     "\n"
     "Options:\n"
     "  --stream NAME        The stream name or ARN (required)\n"
     "  --partition-key KEY  The partition key of every record (default:\n"
     "                       16 random hex digits per record)\n"
     "  --aggregate          Pack the records bound for one shard into KPL\n"
     "                       aggregated records\n"
     "  --format FORMAT      lines (default) or json\n"
     "  --ordered            Keep each partition key's records in input\n"
     "                       order: one request in flight per shard, and a\n"
     "                       record that fails holds back those after it\n"
     "  --stall-timeout SECONDS\n"
     "                       Fail the records outstanding when none at all\n"
     "                       has been acknowledged for SECONDS (default 120;\n"
     "                       0: never). A slow service is waited out.\n"
     "  --record-ttl MS      Also fail a record that is not acknowledged MS\n"
     "                       milliseconds after it was queued (default: no\n"
     "                       TTL)\n"
     "  --rate-limit N       Send at most N records per second to each shard\n"
     "                       (default 1000, the Kinesis limit; 0: no limit)\n"
     STATS_HELP},
    {"tail", CMD_TAIL,
     "--stream NAME [--from POSITION] [--count N]\n"
     "                    [--idle-exit SECONDS] "
     "[--checkpoint memory|redis://...]\n"
     "                    [--app NAME] [--session-timeout SECONDS]\n"
     "                    [--invalid-checkpoint fail|trim-horizon|latest]\n"
     "                    [--efo NAME|ARN [--efo-deregister]]\n"
     "                    [--format raw|json] [--stats] "
     "[--stats-every SECONDS]\n"
     "                    [--stats-format text|prometheus]",
     "Print a stream's records as they arrive",
     "Reads every shard of the stream with the consumer and prints each\n"
     "record on stdout as it arrives: the records that came together are\n"
     "written together, before the command waits for more. Output formats:\n"
     "  raw     Each record's data as it is, then a newline.\n"
     "  json    One JSON object a line: shard_id, sequence_number,\n"
     "          sub_sequence_number, partition_key, approximate_arrival\n"
     "          (ISO 8601 UTC with milliseconds) and data_b64 (base64).\n"
     "\n"
     "It stops after --count records, after --idle-exit seconds without a\n"
     "record, or at SIGINT or SIGTERM; then it checkpoints what it printed,\n"
     "prints one summary line on stderr and exits 0. A shard with nothing\n"
     "new is asked again every second. A stream that does not exist fails\n"
     "at once.\n"
     "\n"
     "Options:\n"
     "  --stream NAME        The stream name or ARN (required)\n"
     "  --from POSITION      Where shards without a checkpoint start:\n"
     "                       trim-horizon (default: the oldest record),\n"
     "                       latest (only new records), or\n"
     "                       at-timestamp:ISO8601, for example\n"
     "                       at-timestamp:2026-11-26T05:00:00Z\n"
     "  --count N            Stop after N records\n"
     "  --idle-exit SECONDS  Stop after SECONDS without a record\n"
     "  --checkpoint STORE   Where positions and leases are kept: memory\n"
     "                       (default; forgotten at exit), or\n"
     "                       redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\n"
     "  --app NAME           The application name: the prefix of this\n"
     "                       reader's lease owner name (default\n"
     "                       kinesis-tail). With a shared checkpoint store,\n"
     "                       the tails of one application share the shards,\n"
     "                       each taking a fair share, and each starts from\n"
     "                       the checkpoints the others wrote\n"
     "  --session-timeout SECONDS\n"
     "                       A reader that does not renew its leases for\n"
     "                       this long loses its shards to the others\n"
     "                       (default 10)\n"
     "  --invalid-checkpoint ACTION\n"
     "                       What to do with a shard whose stored checkpoint\n"
     "                       the service refuses (the stream was deleted and\n"
     "                       created again under the same name): fail\n"
     "                       (default: say so and exit 1), trim-horizon\n"
     "                       (read the shard again from its oldest record)\n"
     "                       or latest (read only new records)\n"
     "  --efo NAME|ARN       Read through enhanced fan-out as this stream\n"
     "                       consumer (SubscribeToShard over HTTP/2: records\n"
     "                       pushed as they arrive, 2 MiB/s a shard for this\n"
     "                       reader alone), registering a name the stream\n"
     "                       does not have yet\n"
     "  --efo-deregister     Deregister the --efo consumer at exit\n"
     "  --format FORMAT      raw (default) or json\n"
     STATS_HELP},
    {"list-streams", CMD_LIST_STREAMS, "",
     "Print the names of every stream as JSON",
     "Prints {\"StreamNames\": [...]} on stdout: every stream of the account\n"
     "in the region, from every page of ListStreams.\n"},
    {"list-shards", CMD_LIST_SHARDS, "--stream NAME",
     "Print every shard of a stream as JSON",
     "Prints {\"Shards\": [...]} on stdout: every shard of the stream, open\n"
     "and closed, from every page of ListShards.\n"
     "\n"
     "Options:\n"
     "  --stream NAME   The stream name or ARN (required)\n"},
    {"update-shard-count", CMD_UPDATE_SHARD_COUNT,
     "--stream NAME --target-shard-count N",
     "Scale a provisioned stream to N shards",
     "UpdateShardCount with UNIFORM_SCALING: Kinesis splits and merges\n"
     "shards until the stream has N shards of equal ranges; the stream is\n"
     "UPDATING meanwhile. Prints the service's answer as JSON on stdout\n"
     "(StreamName, CurrentShardCount, TargetShardCount).\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --target-shard-count N    The shard count wanted, 1 to 100000\n"
     "                            (required)\n"},
    {"split-shard", CMD_SPLIT_SHARD,
     "--stream NAME --shard-id ID [--new-starting-hash-key N]",
     "Split a shard in two",
     "SplitShard: the shard closes and two children share its hash key\n"
     "range, the second starting at --new-starting-hash-key. Without it the\n"
     "range is cut in the middle, which ListShards tells first. Prints\n"
     "nothing on stdout; a one-line confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --shard-id ID             The shard to split (required)\n"
     "  --new-starting-hash-key N\n"
     "                            Where the second child starts: a decimal\n"
     "                            from 0 to 2^128-1 inside the shard's range,\n"
     "                            above its start (default: the middle)\n"},
    {"merge-shards", CMD_MERGE_SHARDS,
     "--stream NAME --shard-id ID --adjacent-shard-id ID",
     "Merge two adjacent shards into one",
     "MergeShards: both shards close and one child takes their ranges,\n"
     "which must be adjacent. Prints nothing on stdout; a one-line\n"
     "confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --shard-id ID             One shard (required)\n"
     "  --adjacent-shard-id ID    The shard whose range touches it\n"
     "                            (required)\n"},
    {"update-stream-mode", CMD_UPDATE_STREAM_MODE,
     "--stream NAME --stream-mode ON_DEMAND|PROVISIONED",
     "Switch a stream between on-demand and provisioned",
     "UpdateStreamMode. The service wants the stream's ARN: given a name,\n"
     "the command asks DescribeStreamSummary for it first. Prints nothing\n"
     "on stdout; a one-line confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --stream-mode MODE        ON_DEMAND or PROVISIONED (required)\n"},
    {"increase-stream-retention", CMD_INCREASE_RETENTION,
     "--stream NAME --retention-period-hours N",
     "Keep a stream's records longer",
     "IncreaseStreamRetentionPeriod: records are kept N hours, more than\n"
     "now. Prints nothing on stdout; a one-line confirmation goes to\n"
     "stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --retention-period-hours N\n"
     "                            24 to 8760 (required)\n"},
    {"decrease-stream-retention", CMD_DECREASE_RETENTION,
     "--stream NAME --retention-period-hours N",
     "Keep a stream's records for less time",
     "DecreaseStreamRetentionPeriod: records are kept N hours, less than\n"
     "now; older records are no longer readable. Prints nothing on stdout;\n"
     "a one-line confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --retention-period-hours N\n"
     "                            24 to 8760 (required)\n"},
    {"start-stream-encryption", CMD_START_ENCRYPTION,
     "--stream NAME [--key-id ID]",
     "Encrypt a stream's new records with KMS",
     "StartStreamEncryption with KMS: records put from now on are encrypted\n"
     "with the key. Prints nothing on stdout; a one-line confirmation goes\n"
     "to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --key-id ID               A KMS key id, key ARN, alias or alias ARN\n"
     "                            (default alias/aws/kinesis)\n"},
    {"stop-stream-encryption", CMD_STOP_ENCRYPTION,
     "--stream NAME [--key-id ID]",
     "Stop encrypting a stream's new records",
     "StopStreamEncryption: records put from now on are not encrypted. The\n"
     "service wants the key in use. Prints nothing on stdout; a one-line\n"
     "confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --key-id ID               The KMS key in use (default\n"
     "                            alias/aws/kinesis)\n"},
    {"add-tags", CMD_ADD_TAGS, "--stream NAME --tags KEY=VALUE[,KEY=VALUE...]",
     "Tag a stream",
     "AddTagsToStream: sets 1 to 50 tags; a key the stream has gets the new\n"
     "value. A key has 1 to 128 characters, a value at most 256 (it may be\n"
     "empty: KEY=). Prints nothing on stdout; a one-line confirmation goes\n"
     "to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --tags KEY=VALUE[,...]    The tags (required; may be repeated)\n"},
    {"remove-tags", CMD_REMOVE_TAGS, "--stream NAME --tag-keys KEY[,KEY...]",
     "Remove tags from a stream",
     "RemoveTagsFromStream: removes 1 to 50 tags by key; a key the stream\n"
     "does not have is ignored. Prints nothing on stdout; a one-line\n"
     "confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --tag-keys KEY[,...]      The keys (required; may be repeated)\n"},
    {"list-tags", CMD_LIST_TAGS, "--stream NAME",
     "Print a stream's tags as JSON",
     "Prints {\"Tags\": [{\"Key\": ..., \"Value\": ...}, ...]} on stdout:\n"
     "every tag of the stream, from every page of ListTagsForStream.\n"
     "\n"
     "Options:\n"
     "  --stream NAME   The stream name or ARN (required)\n"},
    {"update-max-record-size", CMD_UPDATE_MAX_RECORD_SIZE,
     "--stream NAME --max-record-size-kib N",
     "Change the largest record a stream takes",
     "UpdateMaxRecordSize. The service wants the stream's ARN: given a\n"
     "name, the command asks DescribeStreamSummary for it first. Prints\n"
     "nothing on stdout; a one-line confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME             The stream name or ARN (required)\n"
     "  --max-record-size-kib N   1024 to 10240 (required)\n"},
    {"register-consumer", CMD_REGISTER_CONSUMER,
     "--stream NAME --consumer-name NAME",
     "Register an enhanced fan-out consumer, and print it as JSON",
     "RegisterStreamConsumer: the consumer gets its own 2 MiB/s of each\n"
     "shard through SubscribeToShard. The service wants the stream's ARN:\n"
     "given a name, the command asks DescribeStreamSummary for it first.\n"
     "Prints {\"Consumer\": {\"ConsumerName\", \"ConsumerARN\",\n"
     "\"ConsumerStatus\", \"ConsumerCreationTimestamp\"}} on stdout; the\n"
     "consumer is CREATING for a few seconds, then ACTIVE.\n"
     "\n"
     "Options:\n"
     "  --stream NAME           The stream name or ARN (required)\n"
     "  --consumer-name NAME    1 to 128 letters, digits, '_', '.' or '-'\n"
     "                          (required)\n"},
    {"describe-consumer", CMD_DESCRIBE_CONSUMER,
     "(--stream NAME --consumer-name NAME | --consumer-arn ARN)",
     "Print an enhanced fan-out consumer as JSON",
     "DescribeStreamConsumer, of a consumer named on a stream or given by\n"
     "its ARN. Prints {\"ConsumerDescription\": {\"ConsumerName\",\n"
     "\"ConsumerARN\", \"ConsumerStatus\", \"ConsumerCreationTimestamp\",\n"
     "\"StreamARN\"}} on stdout.\n"
     "\n"
     "Options:\n"
     "  --stream NAME           The stream name or ARN\n"
     "  --consumer-name NAME    The consumer's name on that stream\n"
     "  --consumer-arn ARN      Or the consumer's ARN alone\n"},
    {"list-consumers", CMD_LIST_CONSUMERS, "--stream NAME",
     "Print a stream's enhanced fan-out consumers as JSON",
     "Prints {\"Consumers\": [...]} on stdout, each as register-consumer\n"
     "prints it: every consumer of the stream, from every page of\n"
     "ListStreamConsumers.\n"
     "\n"
     "Options:\n"
     "  --stream NAME   The stream name or ARN (required)\n"},
    {"deregister-consumer", CMD_DEREGISTER_CONSUMER,
     "(--stream NAME --consumer-name NAME | --consumer-arn ARN)",
     "Deregister an enhanced fan-out consumer",
     "DeregisterStreamConsumer: the consumer is DELETING for a few seconds,\n"
     "then gone, and its subscriptions end. Prints nothing on stdout; a\n"
     "one-line confirmation goes to stderr.\n"
     "\n"
     "Options:\n"
     "  --stream NAME           The stream name or ARN\n"
     "  --consumer-name NAME    The consumer's name on that stream\n"
     "  --consumer-arn ARN      Or the consumer's ARN alone\n"},
    {"whoami", CMD_WHOAMI, "",
     "Print where the credentials come from, as JSON",
     "Resolves the credentials as any other command would, and prints one\n"
     "JSON object on stdout: the provider of the chain that gave them\n"
     "(\"Source\": options, environment, web identity, assume role,\n"
     "profile, process, sso, container or imds), the profile and the role\n"
     "when there is one, the last four characters of the access key id,\n"
     "and when they expire; a member that does not apply is left out. No\n"
     "secret is printed.\n"
     "Needs no region and sends no request to Kinesis.\n"},
    {"serve", CMD_SERVE,
     "[--port N] [--host ADDRESS] [--keys AKID:SECRET[,...]] "
     "[--throttle P] [--error-5xx P] [--partial P] [--drop P] "
     "[--latency MS] [--seed N] [--no-limits] "
     "[--reshard STREAM:COUNT@AFTER_MS[/EVERY_MS]]...",
     "Run a fake Kinesis service, for tests",
     "Runs a fake Kinesis service in memory (libkinesis-testing): the\n"
     "Kinesis JSON API over HTTP/1.1 and cleartext HTTP/2, with no TLS, for\n"
     "other programs' --endpoint-url. Signatures are checked only with\n"
     "--keys. Prints its URL, http://HOST:PORT, as the first line on stdout\n"
     "once it accepts connections, then runs until SIGINT or SIGTERM,\n"
     "closes and exits 0.\n"
     "Its streams live in memory and go with it. Exits 2 when this kinesis\n"
     "was built without the service (no libh2o).\n"
     "\n"
     "Kinesis's throughput limits hold per shard, as on AWS: 1,000 records\n"
     "and 1 MiB written a second, 5 GetRecords calls and 2 MiB read a\n"
     "second, 5 GetShardIterator calls a second; a call over them gets\n"
     "ProvisionedThroughputExceededException.\n"
     "\n"
     "Options:\n"
     "  --port N          The port (default: a free one)\n"
     "  --host ADDRESS    The IP address to listen on (default 127.0.0.1)\n"
     "  --region REGION   The region in the streams' ARNs (default:\n"
     "                    $AWS_REGION, $AWS_DEFAULT_REGION, then us-east-1)\n"
     "  --no-limits       Enforce none of the throughput limits\n"
     "  --keys AKID:SECRET[,...]\n"
     "                    Check each request's signature (SigV4, for the\n"
     "                    region above) against these keys, and refuse it as\n"
     "                    Kinesis does when it is wrong (default: no check)\n"
     "\n"
     "Faults (default none; P is a fraction from 0 to 1):\n"
     "  --throttle P      Answer P of PutRecord(s), GetRecords and\n"
     "                    GetShardIterator 400 ProvisionedThroughputExceeded\n"
     "  --error-5xx P     Answer P of the requests 500 or 503\n"
     "  --partial P       Fail P of PutRecords' entries inside a 200 answer\n"
     "  --drop P          Close P of the connections unanswered, half before\n"
     "                    the request is applied, half after (stored)\n"
     "  --latency MS      Delay every answer MS milliseconds\n"
     "  --seed N          Seed the faults' draws (default: a fixed one)\n"
     "A separate process changes them with LibkinesisServe.SetFaults\n"
     "(docs/cli.md).\n"
     "\n"
     "Scheduled reshards (may be repeated, up to 16):\n"
     "  --reshard STREAM:COUNT@AFTER_MS[/EVERY_MS]\n"
     "                    AFTER_MS ms after the service starts, scale STREAM\n"
     "                    to COUNT open shards (1 to 10000) as\n"
     "                    UpdateShardCount UNIFORM_SCALING would; with\n"
     "                    /EVERY_MS, again every EVERY_MS ms, back and forth\n"
     "                    between COUNT and the count it had before. A time\n"
     "                    when STREAM does not exist, or COUNT is not within\n"
     "                    half and double its open shards, is skipped.\n"
     "                    E.g. --reshard orders:4@5000/10000\n"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

typedef enum {
  OPT_HELP,
  OPT_VERSION,
  OPT_ENDPOINT_URL,
  OPT_REGION,
  OPT_PROFILE,
  OPT_CA_FILE,
  OPT_NO_VERIFY_SSL,
  OPT_VERBOSE,
  OPT_STREAM,
  OPT_SHARDS,
  OPT_ON_DEMAND,
  OPT_WAIT,
  OPT_PARTITION_KEY,
  OPT_AGGREGATE,
  OPT_FORMAT,
  OPT_RECORD_TTL,
  OPT_RATE_LIMIT,
  OPT_ORDERED,
  OPT_STALL_TIMEOUT,
  OPT_FROM,
  OPT_COUNT,
  OPT_IDLE_EXIT,
  OPT_CHECKPOINT,
  OPT_APP,
  OPT_SESSION_TIMEOUT,
  OPT_STATS,
  OPT_STATS_EVERY,
  OPT_STATS_FORMAT,
  OPT_INVALID_CHECKPOINT,
  OPT_EFO,
  OPT_EFO_DEREGISTER,
  OPT_TARGET_SHARD_COUNT,
  OPT_SHARD_ID,
  OPT_NEW_STARTING_HASH_KEY,
  OPT_ADJACENT_SHARD_ID,
  OPT_STREAM_MODE,
  OPT_RETENTION_HOURS,
  OPT_KEY_ID,
  OPT_TAGS,
  OPT_TAG_KEYS,
  OPT_MAX_RECORD_SIZE_KIB,
  OPT_PORT,
  OPT_HOST,
  OPT_KEYS,
  OPT_THROTTLE,
  OPT_ERROR_5XX,
  OPT_PARTIAL,
  OPT_DROP,
  OPT_LATENCY,
  OPT_SEED,
  OPT_NO_LIMITS,
  OPT_RESHARD,
  OPT_CONSUMER_NAME,
  OPT_CONSUMER_ARN
} opt_id_t;

#define CMD_BIT(id) (1u << (id))
#define SHARD_ID_CMDS (CMD_BIT(CMD_SPLIT_SHARD) | CMD_BIT(CMD_MERGE_SHARDS))
#define RETENTION_CMDS                                                        \
  (CMD_BIT(CMD_INCREASE_RETENTION) | CMD_BIT(CMD_DECREASE_RETENTION))
#define ENCRYPTION_CMDS                                                       \
  (CMD_BIT(CMD_START_ENCRYPTION) | CMD_BIT(CMD_STOP_ENCRYPTION))
/* The consumer commands that name one consumer: by name, or by ARN. */
#define ONE_CONSUMER_CMDS                                                     \
  (CMD_BIT(CMD_DESCRIBE_CONSUMER) | CMD_BIT(CMD_DEREGISTER_CONSUMER))
#define CONSUMER_CMDS                                                         \
  (ONE_CONSUMER_CMDS | CMD_BIT(CMD_REGISTER_CONSUMER) |                       \
   CMD_BIT(CMD_LIST_CONSUMERS))
/* Every command but list-streams and whoami takes --stream. */
#define ALL_STREAM_CMDS                                                       \
  (CMD_BIT(CMD_CREATE_STREAM) | CMD_BIT(CMD_DELETE_STREAM) |                  \
   CMD_BIT(CMD_DESCRIBE_STREAM) | CMD_BIT(CMD_PUT) | CMD_BIT(CMD_TAIL) |      \
   CMD_BIT(CMD_LIST_SHARDS) | CMD_BIT(CMD_UPDATE_SHARD_COUNT) |               \
   SHARD_ID_CMDS | CMD_BIT(CMD_UPDATE_STREAM_MODE) | RETENTION_CMDS |         \
   ENCRYPTION_CMDS | CMD_BIT(CMD_ADD_TAGS) | CMD_BIT(CMD_REMOVE_TAGS) |       \
   CMD_BIT(CMD_LIST_TAGS) | CMD_BIT(CMD_UPDATE_MAX_RECORD_SIZE) |            \
   CONSUMER_CMDS)

typedef struct {
  const char* name; /* without the leading "--" */
  opt_id_t id;
  int has_arg;
  unsigned commands; /* 0: a global option, valid anywhere */
} option_t;

static const option_t options[] = {
    {"help", OPT_HELP, 0, 0},
    {"version", OPT_VERSION, 0, 0},
    {"endpoint-url", OPT_ENDPOINT_URL, 1, 0},
    {"region", OPT_REGION, 1, 0},
    {"profile", OPT_PROFILE, 1, 0},
    {"ca-file", OPT_CA_FILE, 1, 0},
    {"no-verify-ssl", OPT_NO_VERIFY_SSL, 0, 0},
    {"verbose", OPT_VERBOSE, 0, 0},
    {"stream", OPT_STREAM, 1, ALL_STREAM_CMDS},
    {"shards", OPT_SHARDS, 1, CMD_BIT(CMD_CREATE_STREAM)},
    {"on-demand", OPT_ON_DEMAND, 0, CMD_BIT(CMD_CREATE_STREAM)},
    {"wait", OPT_WAIT, 0, CMD_BIT(CMD_CREATE_STREAM)},
    {"partition-key", OPT_PARTITION_KEY, 1, CMD_BIT(CMD_PUT)},
    {"aggregate", OPT_AGGREGATE, 0, CMD_BIT(CMD_PUT)},
    {"format", OPT_FORMAT, 1, CMD_BIT(CMD_PUT) | CMD_BIT(CMD_TAIL)},
    {"record-ttl", OPT_RECORD_TTL, 1, CMD_BIT(CMD_PUT)},
    {"rate-limit", OPT_RATE_LIMIT, 1, CMD_BIT(CMD_PUT)},
    {"ordered", OPT_ORDERED, 0, CMD_BIT(CMD_PUT)},
    {"stall-timeout", OPT_STALL_TIMEOUT, 1, CMD_BIT(CMD_PUT)},
    {"from", OPT_FROM, 1, CMD_BIT(CMD_TAIL)},
    {"count", OPT_COUNT, 1, CMD_BIT(CMD_TAIL)},
    {"idle-exit", OPT_IDLE_EXIT, 1, CMD_BIT(CMD_TAIL)},
    {"checkpoint", OPT_CHECKPOINT, 1, CMD_BIT(CMD_TAIL)},
    {"app", OPT_APP, 1, CMD_BIT(CMD_TAIL)},
    {"session-timeout", OPT_SESSION_TIMEOUT, 1, CMD_BIT(CMD_TAIL)},
    {"stats", OPT_STATS, 0, CMD_BIT(CMD_PUT) | CMD_BIT(CMD_TAIL)},
    {"stats-every", OPT_STATS_EVERY, 1, CMD_BIT(CMD_PUT) | CMD_BIT(CMD_TAIL)},
    {"stats-format", OPT_STATS_FORMAT, 1,
     CMD_BIT(CMD_PUT) | CMD_BIT(CMD_TAIL)},
    {"invalid-checkpoint", OPT_INVALID_CHECKPOINT, 1, CMD_BIT(CMD_TAIL)},
    {"efo", OPT_EFO, 1, CMD_BIT(CMD_TAIL)},
    {"efo-deregister", OPT_EFO_DEREGISTER, 0, CMD_BIT(CMD_TAIL)},
    {"target-shard-count", OPT_TARGET_SHARD_COUNT, 1,
     CMD_BIT(CMD_UPDATE_SHARD_COUNT)},
    {"shard-id", OPT_SHARD_ID, 1, SHARD_ID_CMDS},
    {"new-starting-hash-key", OPT_NEW_STARTING_HASH_KEY, 1,
     CMD_BIT(CMD_SPLIT_SHARD)},
    {"adjacent-shard-id", OPT_ADJACENT_SHARD_ID, 1,
     CMD_BIT(CMD_MERGE_SHARDS)},
    {"stream-mode", OPT_STREAM_MODE, 1, CMD_BIT(CMD_UPDATE_STREAM_MODE)},
    {"retention-period-hours", OPT_RETENTION_HOURS, 1, RETENTION_CMDS},
    {"key-id", OPT_KEY_ID, 1, ENCRYPTION_CMDS},
    {"tags", OPT_TAGS, 1, CMD_BIT(CMD_ADD_TAGS)},
    {"tag-keys", OPT_TAG_KEYS, 1, CMD_BIT(CMD_REMOVE_TAGS)},
    {"max-record-size-kib", OPT_MAX_RECORD_SIZE_KIB, 1,
     CMD_BIT(CMD_UPDATE_MAX_RECORD_SIZE)},
    {"port", OPT_PORT, 1, CMD_BIT(CMD_SERVE)},
    {"host", OPT_HOST, 1, CMD_BIT(CMD_SERVE)},
    {"keys", OPT_KEYS, 1, CMD_BIT(CMD_SERVE)},
    {"throttle", OPT_THROTTLE, 1, CMD_BIT(CMD_SERVE)},
    {"error-5xx", OPT_ERROR_5XX, 1, CMD_BIT(CMD_SERVE)},
    {"partial", OPT_PARTIAL, 1, CMD_BIT(CMD_SERVE)},
    {"drop", OPT_DROP, 1, CMD_BIT(CMD_SERVE)},
    {"latency", OPT_LATENCY, 1, CMD_BIT(CMD_SERVE)},
    {"seed", OPT_SEED, 1, CMD_BIT(CMD_SERVE)},
    {"no-limits", OPT_NO_LIMITS, 0, CMD_BIT(CMD_SERVE)},
    {"reshard", OPT_RESHARD, 1, CMD_BIT(CMD_SERVE)},
    {"consumer-name", OPT_CONSUMER_NAME, 1,
     ONE_CONSUMER_CMDS | CMD_BIT(CMD_REGISTER_CONSUMER)},
    {"consumer-arn", OPT_CONSUMER_ARN, 1, ONE_CONSUMER_CMDS},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))


static void print_global_help(FILE* f) {
  size_t i;
  fputs("Usage: kinesis [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
        "\n"
        "A command-line client for Amazon Kinesis Data Streams.\n"
        "\n"
        "Commands:\n",
        f);
  for (i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-25s %s\n", commands[i].name, commands[i].summary);
  fputs(
      "\n"
      "Global options (before or after the command):\n"
      "  --endpoint-url URL  Send requests to URL (http:// or https://)\n"
      "                      instead of https://kinesis.REGION.amazonaws.com\n"
      "  --region REGION     The AWS region (default: $AWS_REGION,\n"
      "                      $AWS_DEFAULT_REGION, then the profile's region)\n"
      "  --profile NAME      The profile in ~/.aws/credentials and\n"
      "                      ~/.aws/config (default: $AWS_PROFILE or default)\n"
      "  --ca-file PATH      Trust the CA certificates in PATH (PEM) instead\n"
      "                      of the system's store\n"
      "  --no-verify-ssl     Do not verify the server's certificate and host\n"
      "                      name\n"
      "  -v, --verbose       Also print the library's informational and\n"
      "                      debug messages on stderr (warnings and errors\n"
      "                      are always printed)\n"
      "  -h, --help          Show this help, or a command's with\n"
      "                      kinesis COMMAND --help, and exit\n"
      "  --version           Show the version and exit\n"
      "\n"
      "Credentials come from the standard AWS chain: AWS_ACCESS_KEY_ID,\n"
      "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; a web identity\n"
      "(AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN); the profile in the\n"
      "shared files, with its role (role_arn), web identity, IAM Identity\n"
      "Center (sso_*), keys or credential_process; container credentials;\n"
      "EC2 instance metadata. kinesis whoami says which one answered. The\n"
      "endpoint may also come from AWS_ENDPOINT_URL_KINESIS or\n"
      "AWS_ENDPOINT_URL.\n"
      "\n"
      "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n",
      f);
}


static void print_command_help(FILE* f, const command_t* cmd) {
  fprintf(f, "Usage: kinesis %s %s\n\n%s\n", cmd->name,
          cmd->synopsis, cmd->help);
  fputs("Global options: see kinesis --help.\n", f);
}


/* Reports a usage error and returns the exit status for it. */
static int usage_error(const command_t* cmd, const char* fmt, ...) {
  char msg[1024];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (cmd != NULL) {
    err_line("%s: %s", cmd->name, msg);
    fprintf(stderr, "Usage: kinesis %s %s\n", cmd->name,
            cmd->synopsis);
    fprintf(stderr, "Try 'kinesis %s --help' for more information.\n",
            cmd->name);
  } else {
    err_line("%s", msg);
    fputs("Try 'kinesis --help' for more information.\n", stderr);
  }
  return CLI_EXIT_USAGE;
}


static const command_t* find_command(const char* name) {
  size_t i;
  for (i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}


static const option_t* find_option(const char* name, size_t len) {
  size_t i;
  for (i = 0; i < NOPTIONS; i++)
    if (strlen(options[i].name) == len &&
        memcmp(options[i].name, name, len) == 0)
      return &options[i];
  return NULL;
}


static int parse_shards(cli_t* cli, const char* value) {
  char* end;
  unsigned long n;

  if (value[0] < '0' || value[0] > '9')
    return usage_error(cli->cmd, "--shards needs a positive number, not '%s'",
                       value);
  n = strtoul(value, &end, 10);
  if (*end != '\0' || n > CLI_MAX_SHARDS)
    return usage_error(cli->cmd, "--shards needs a number from 1 to %lu, "
                       "not '%s'", CLI_MAX_SHARDS, value);
  if (n == 0)
    return usage_error(cli->cmd, "--shards must be at least 1; use "
                       "--on-demand for an on-demand stream");
  cli->shards = n;
  cli->shards_set = 1;
  return CLI_CONTINUE;
}


/* A decimal from `min` to `max` for option `name`. */
static int parse_number(cli_t* cli, const char* name, const char* value,
                        unsigned long min, unsigned long max,
                        unsigned long* out) {
  char* end;
  unsigned long n;

  errno = 0;
  n = strtoul(value, &end, 10);
  if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
      n < min || n > max)
    return usage_error(cli->cmd, "--%s needs a number from %lu to %lu, "
                       "not '%s'", name, min, max, value);
  *out = n;
  return CLI_CONTINUE;
}


/* A fraction from 0 to 1 for option `name` (serve's faults). */
static int parse_fraction(cli_t* cli, const char* name, const char* value,
                          double* out) {
  char* end;
  double d;

  errno = 0;
  d = strtod(value, &end);
  if (value[0] == '\0' || *end != '\0' || errno != 0 || !(d >= 0 && d <= 1))
    return usage_error(cli->cmd, "--%s needs a fraction from 0 to 1, not "
                       "'%s'", name, value);
  *out = d;
  return CLI_CONTINUE;
}


/* Whether a record with partition key `pk` and explicit hash key `ehk`
 * (or NULL) passes kinesis_record_validate(): the library's own check of
 * keys, so that an option is refused exactly when each record would be. */
static int valid_key(const char* pk, const char* ehk) {
  kinesis_record_t rec;

  memset(&rec, 0, sizeof(rec));
  rec.partition_key = pk;
  rec.explicit_hash_key = ehk;
  return kinesis_record_validate(&rec) == 0;
}


static int apply_put_option(cli_t* cli, const option_t* opt,
                            const char* value) {
  unsigned long n = 0;
  int r;

  switch (opt->id) {
    case OPT_PARTITION_KEY:
      if (!valid_key(value, NULL))
        return usage_error(cli->cmd, "--partition-key needs 1 to 256 "
                           "characters of UTF-8");
      cli->partition_key = value;
      break;
    case OPT_AGGREGATE: cli->popts.aggregate = 1; break;
    case OPT_FORMAT:
      if (strcmp(value, "lines") == 0)
        cli->format = PUT_FORMAT_LINES;
      else if (strcmp(value, "json") == 0)
        cli->format = PUT_FORMAT_JSON;
      else
        return usage_error(cli->cmd, "--format needs lines or json, not "
                           "'%s'", value);
      break;
    case OPT_RECORD_TTL:
      r = parse_number(cli, opt->name, value, 1, UINT32_MAX, &n);
      if (r != CLI_CONTINUE)
        return r;
      cli->popts.record_ttl_ms = (uint32_t) n;
      break;
    case OPT_RATE_LIMIT:
      r = parse_number(cli, opt->name, value, 0, UINT32_MAX, &n);
      if (r != CLI_CONTINUE)
        return r;
      cli->popts.put_rate_limit_per_shard = (uint32_t) n;
      break;
    case OPT_ORDERED: cli->popts.ordered = 1; break;
    case OPT_STALL_TIMEOUT:
      r = parse_number(cli, opt->name, value, 0, UINT32_MAX / 1000, &n);
      if (r != CLI_CONTINUE)
        return r;
      cli->popts.stall_timeout_ms = (uint32_t) (n * 1000);
      break;
    default: break;
  }
  return CLI_CONTINUE;
}


/* --from trim-horizon|latest|at-timestamp:ISO8601 */
static int parse_from(cli_t* cli, const char* value) {
  static const char at[] = "at-timestamp:";
  tail_t* t = &cli->tail;
  int64_t ms;

  if (strcmp(value, "trim-horizon") == 0) {
    t->from = KINESIS_ITERATOR_TRIM_HORIZON;
  } else if (strcmp(value, "latest") == 0) {
    t->from = KINESIS_ITERATOR_LATEST;
  } else if (strncmp(value, at, sizeof(at) - 1) == 0) {
    if (iso8601_parse(value + sizeof(at) - 1, &ms) != 0 || ms <= 0)
      return usage_error(cli->cmd, "--from at-timestamp: needs a UTC time "
                         "after 1970 such as 2026-11-26T05:00:00Z, not '%s'",
                         value + sizeof(at) - 1);
    t->from = KINESIS_ITERATOR_AT_TIMESTAMP;
    t->timestamp = (double) ms / 1000.0;
  } else {
    return usage_error(cli->cmd, "--from needs trim-horizon, latest or "
                       "at-timestamp:ISO8601, not '%s'", value);
  }
  return CLI_CONTINUE;
}


static int apply_tail_option(cli_t* cli, const option_t* opt,
                             const char* value) {
  tail_t* t = &cli->tail;

  switch (opt->id) {
    case OPT_FROM: return parse_from(cli, value);
    case OPT_COUNT:
      return parse_number(cli, opt->name, value, 1, UINT32_MAX, &t->count);
    case OPT_IDLE_EXIT:
      return parse_number(cli, opt->name, value, 1, TAIL_MAX_IDLE_SECONDS,
                          &t->idle_s);
    case OPT_CHECKPOINT:
      if (strncmp(value, "redis://", 8) == 0) {
        t->redis_url = value;
        break;
      }
      /* The value is not shown: a URL may carry a password. */
      if (strcmp(value, "memory") != 0)
        return usage_error(cli->cmd, "--checkpoint needs memory or "
                           "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]");
      t->redis_url = NULL;
      break;
    case OPT_APP:
      if (value[0] == '\0' || strlen(value) > TAIL_MAX_APP_LEN)
        return usage_error(cli->cmd, "--app needs 1 to %d characters",
                           TAIL_MAX_APP_LEN);
      /* The Redis checkpointer namespaces its keys with it. */
      if (strpbrk(value, ":{}") != NULL)
        return usage_error(cli->cmd, "--app cannot contain ':', '{' or '}'");
      t->app = value;
      break;
    case OPT_SESSION_TIMEOUT:
      return parse_number(cli, opt->name, value, 1, TAIL_MAX_SESSION_SECONDS,
                          &t->session_s);
    case OPT_INVALID_CHECKPOINT:
      if (strcmp(value, "fail") == 0)
        t->invalid_checkpoint = KINESIS_INVALID_CHECKPOINT_FAIL;
      else if (strcmp(value, "trim-horizon") == 0)
        t->invalid_checkpoint = KINESIS_INVALID_CHECKPOINT_TRIM_HORIZON;
      else if (strcmp(value, "latest") == 0)
        t->invalid_checkpoint = KINESIS_INVALID_CHECKPOINT_LATEST;
      else
        return usage_error(cli->cmd, "--invalid-checkpoint needs fail, "
                           "trim-horizon or latest, not '%s'", value);
      break;
    case OPT_EFO:
      if (strncmp(value, "arn:", 4) != 0 &&
          (strlen(value) > 128 ||
           strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789_.-") != strlen(value)))
        return usage_error(cli->cmd, "--efo needs a consumer ARN, or a name "
                           "of 1 to 128 letters, digits, '_', '.' or '-'");
      t->efo = value;
      break;
    case OPT_EFO_DEREGISTER: t->efo_deregister = 1; break;
    case OPT_FORMAT:
      if (strcmp(value, "raw") == 0)
        t->format = TAIL_FORMAT_RAW;
      else if (strcmp(value, "json") == 0)
        t->format = TAIL_FORMAT_JSON;
      else
        return usage_error(cli->cmd, "--format needs raw or json, not '%s'",
                           value);
      break;
    default: break;
  }
  return CLI_CONTINUE;
}


/* Copies `value` and cuts it at each ',' into `m->text`; sets `*first` to
 * the first piece's index. */
static int split_list(cli_t* cli, const char* name, const char* value,
                      size_t* first, size_t* count) {
  mgmt_t* m = &cli->mgmt;
  char* copy;
  char* p;
  size_t n = 1;

  for (p = (char*) value; (p = strchr(p, ',')) != NULL; p++)
    n++;
  if (m->ntext + n > KINESIS_MAX_TAGS_PER_CALL * 2 ||
      (cli->cmd->id == CMD_ADD_TAGS ? m->ntags : m->nkeys) + n >
          KINESIS_MAX_TAGS_PER_CALL)
    return usage_error(cli->cmd, "--%s: at most %d tags", name,
                       KINESIS_MAX_TAGS_PER_CALL);
  copy = strdup(value);
  if (copy == NULL) {
    err_line("%s: %s", cli->cmd->name, kinesis_strerror(KINESIS_ENOMEM));
    return CLI_EXIT_FAIL;
  }
  *first = m->ntext;
  *count = n;
  m->owned[m->nowned++] = copy;
  m->text[m->ntext++] = copy;
  for (p = copy; (p = strchr(p, ',')) != NULL;) {
    *p++ = '\0';
    m->text[m->ntext++] = p;
  }
  return CLI_CONTINUE;
}


void mgmt_free(mgmt_t* m) {
  size_t i;
  for (i = 0; i < m->nowned; i++)
    free(m->owned[i]);
  m->nowned = 0;
}


/* --tags K=V[,K=V...] */
static int parse_tags(cli_t* cli, const char* value) {
  mgmt_t* m = &cli->mgmt;
  size_t first;
  size_t n;
  size_t i;
  size_t j;
  int r = split_list(cli, "tags", value, &first, &n);

  if (r != CLI_CONTINUE)
    return r;
  for (i = first; i < first + n; i++) {
    char* key = m->text[i];
    char* eq = strchr(key, '=');
    kinesis_tag_t* t = &m->tags[m->ntags];
    if (eq == NULL || eq == key)
      return usage_error(cli->cmd, "--tags needs KEY=VALUE pairs separated "
                         "by ',', not '%s'", key);
    /* The keys' and values' lengths and UTF-8 are the library's to check:
     * kinesis_client_add_tags() refuses them (report_call_error()). */
    *eq = '\0';
    for (j = 0; j < m->ntags; j++)
      if (strcmp(m->tags[j].key, key) == 0)
        return usage_error(cli->cmd, "--tags: key '%s' is given twice", key);
    t->key = key;
    t->value = eq + 1;
    m->ntags++;
  }
  return CLI_CONTINUE;
}


/* --tag-keys K[,K...] */
static int parse_tag_keys(cli_t* cli, const char* value) {
  mgmt_t* m = &cli->mgmt;
  size_t first;
  size_t n;
  size_t i;
  int r = split_list(cli, "tag-keys", value, &first, &n);

  if (r != CLI_CONTINUE)
    return r;
  /* As with --tags, kinesis_client_remove_tags() checks each key. */
  for (i = first; i < first + n; i++)
    m->keys[m->nkeys++] = m->text[i];
  return CLI_CONTINUE;
}


static int apply_mgmt_option(cli_t* cli, const option_t* opt,
                             const char* value) {
  mgmt_t* m = &cli->mgmt;

  switch (opt->id) {
    case OPT_TARGET_SHARD_COUNT:
      return parse_number(cli, opt->name, value, 1,
                          KINESIS_MAX_TARGET_SHARD_COUNT,
                          &m->target_shard_count);
    /* Shard ids are the library's to check: the call refuses a bad one
     * (report_call_error()). */
    case OPT_SHARD_ID:
    case OPT_ADJACENT_SHARD_ID:
      if (opt->id == OPT_SHARD_ID)
        m->shard_id = value;
      else
        m->adjacent_shard_id = value;
      break;
    /* A shard's starting hash key has the form of a record's explicit
     * hash key, which kinesis_record_validate() checks. */
    case OPT_NEW_STARTING_HASH_KEY:
      if (!valid_key("k", value))
        return usage_error(cli->cmd, "--new-starting-hash-key needs a "
                           "decimal from 0 to 2^128-1, not '%s'", value);
      m->hash_key = value;
      break;
    case OPT_STREAM_MODE:
      if (strcmp(value, "ON_DEMAND") == 0)
        m->mode = KINESIS_STREAM_MODE_ON_DEMAND;
      else if (strcmp(value, "PROVISIONED") == 0)
        m->mode = KINESIS_STREAM_MODE_PROVISIONED;
      else
        return usage_error(cli->cmd, "--stream-mode needs ON_DEMAND or "
                           "PROVISIONED, not '%s'", value);
      m->mode_set = 1;
      break;
    case OPT_RETENTION_HOURS:
      return parse_number(cli, opt->name, value, KINESIS_MIN_RETENTION_HOURS,
                          KINESIS_MAX_RETENTION_HOURS, &m->retention_hours);
    case OPT_KEY_ID:
      if (strlen(value) > 2048)
        return usage_error(cli->cmd, "--key-id needs at most 2048 "
                           "characters");
      m->key_id = value;
      break;
    case OPT_TAGS: return parse_tags(cli, value);
    case OPT_TAG_KEYS: return parse_tag_keys(cli, value);
    case OPT_MAX_RECORD_SIZE_KIB:
      return parse_number(cli, opt->name, value,
                          KINESIS_MIN_MAX_RECORD_SIZE_KIB,
                          KINESIS_MAX_MAX_RECORD_SIZE_KIB, &m->max_record_kib);
    /* Names and ARNs are the library's to check (report_call_error()). */
    case OPT_CONSUMER_NAME:
      m->consumer_name = value;
      break;
    case OPT_CONSUMER_ARN:
      m->consumer_arn = value;
      break;
    default: break;
  }
  return CLI_CONTINUE;
}


/* The option a management command cannot do without, or NULL. */
static const char* mgmt_missing(const cli_t* cli) {
  const mgmt_t* m = &cli->mgmt;

  switch (cli->cmd->id) {
    case CMD_UPDATE_SHARD_COUNT:
      return m->target_shard_count == 0 ? "--target-shard-count N" : NULL;
    case CMD_SPLIT_SHARD: return m->shard_id == NULL ? "--shard-id ID" : NULL;
    case CMD_MERGE_SHARDS:
      if (m->shard_id == NULL)
        return "--shard-id ID";
      return m->adjacent_shard_id == NULL ? "--adjacent-shard-id ID" : NULL;
    case CMD_UPDATE_STREAM_MODE:
      return !m->mode_set ? "--stream-mode ON_DEMAND|PROVISIONED" : NULL;
    case CMD_INCREASE_RETENTION:
    case CMD_DECREASE_RETENTION:
      return m->retention_hours == 0 ? "--retention-period-hours N" : NULL;
    case CMD_ADD_TAGS:
      return m->ntags == 0 ? "--tags KEY=VALUE[,KEY=VALUE...]" : NULL;
    case CMD_REMOVE_TAGS:
      return m->nkeys == 0 ? "--tag-keys KEY[,KEY...]" : NULL;
    case CMD_UPDATE_MAX_RECORD_SIZE:
      return m->max_record_kib == 0 ? "--max-record-size-kib N" : NULL;
    case CMD_REGISTER_CONSUMER:
      return m->consumer_name == NULL ? "--consumer-name NAME" : NULL;
    case CMD_DESCRIBE_CONSUMER:
    case CMD_DEREGISTER_CONSUMER:
      return m->consumer_arn == NULL && m->consumer_name == NULL
                 ? "--consumer-name NAME or --consumer-arn ARN"
                 : NULL;
    default: return NULL;
  }
}


/* A decimal of up to 64 bits, all of `text` up to `end` (exclusive). */
static int parse_u64(const char* text, const char* end, uint64_t* out) {
  uint64_t n = 0;
  const char* p;

  if (text == end)
    return -1;
  for (p = text; p < end; p++) {
    if (*p < '0' || *p > '9' || n > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
      return -1;
    n = n * 10 + (uint64_t) (*p - '0');
  }
  *out = n;
  return 0;
}


/* --reshard STREAM:COUNT@AFTER_MS[/EVERY_MS]: checked here as
 * kinesis_serve_schedule_reshard() checks it, for a usage error rather
 * than its KINESIS_EINVAL; cmd_serve.c schedules it. */
static int parse_reshard(cli_t* cli, const char* value) {
  static const char form[] = "--reshard needs STREAM:COUNT@AFTER_MS"
                             "[/EVERY_MS] (e.g. orders:4@5000/10000)";
  const char* colon = strchr(value, ':');
  const char* at = colon != NULL ? strchr(colon, '@') : NULL;
  const char* slash;
  const char* after_end;
  cli_reshard_t* r;
  uint64_t count;
  const char* p;

  if (colon == NULL || at == NULL)
    return usage_error(cli->cmd, "%s, not '%s'", form, value);
  slash = strchr(at, '/');
  after_end = slash != NULL ? slash : at + strlen(at);
  if (colon == value || colon - value > 128)
    return usage_error(cli->cmd, "--reshard: the stream name needs 1 to 128 "
                       "characters, in '%s'", value);
  for (p = value; p < colon; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
      return usage_error(cli->cmd, "--reshard: a stream name is made of "
                         "a-z, A-Z, 0-9, '_', '.' and '-', in '%s'", value);
  if (cli->serve_nreshards == CLI_MAX_RESHARDS)
    return usage_error(cli->cmd, "--reshard is given more than %d times",
                       CLI_MAX_RESHARDS);
  r = &cli->serve_reshards[cli->serve_nreshards];
  memset(r, 0, sizeof(*r));
  if (parse_u64(colon + 1, at, &count) != 0 || count < 1 || count > 10000)
    return usage_error(cli->cmd, "--reshard: COUNT needs a number from 1 to "
                       "10000, in '%s'", value);
  if (parse_u64(at + 1, after_end, &r->after_ms) != 0 ||
      r->after_ms > (uint64_t) INT64_MAX / 2)
    return usage_error(cli->cmd, "%s, not '%s'", form, value);
  if (slash != NULL &&
      (parse_u64(slash + 1, slash + strlen(slash), &r->every_ms) != 0 ||
       r->every_ms > (uint64_t) INT64_MAX))
    return usage_error(cli->cmd, "%s, not '%s'", form, value);
  memcpy(r->stream, value, (size_t) (colon - value));
  r->count = (uint32_t) count;
  cli->serve_nreshards++;
  return CLI_CONTINUE;
}


/* --keys AKID:SECRET[,...]: checked as kinesis_serve_new() checks its
 * `keys`, for a usage error rather than its KINESIS_EINVAL; cmd_serve.c
 * splits it. No message echoes a secret. */
static int parse_serve_keys(cli_t* cli, const char* value) {
  const char* p = value;

  for (;;) {
    size_t len = strcspn(p, ",");
    const char* colon = memchr(p, ':', len);
    size_t i;
    if (colon == NULL || colon == p || (size_t) (colon - p) + 1 == len)
      return usage_error(cli->cmd, "--keys needs ACCESS_KEY_ID:SECRET pairs "
                         "separated by ','");
    for (i = 0; p + i < colon; i++)
      if ((unsigned char) p[i] <= ' ' || (unsigned char) p[i] >= 0x7f ||
          p[i] == '/' || p[i] == '=')
        return usage_error(cli->cmd, "--keys: '%.*s' is no access key id",
                           (int) (colon - p), p);
    if (p[len] == '\0')
      break;
    p += len + 1;
  }
  cli->serve_keys = value;
  return CLI_CONTINUE;
}


static int apply_option(cli_t* cli, const option_t* opt, const char* value) {
  switch (opt->id) {
    case OPT_HELP: cli->help = 1; break;
    case OPT_VERSION: cli->version = 1; break;
    case OPT_ENDPOINT_URL: cli->opts.endpoint_url = value; break;
    case OPT_REGION: cli->opts.region = value; break;
    case OPT_PROFILE: cli->opts.profile = value; break;
    case OPT_CA_FILE: cli->opts.ca_file = value; break;
    case OPT_NO_VERIFY_SSL: cli->opts.insecure = 1; break;
    case OPT_VERBOSE: cli->verbose = 1; break;
    case OPT_STREAM: cli->stream = value; break;
    case OPT_SHARDS: return parse_shards(cli, value);
    case OPT_ON_DEMAND: cli->on_demand = 1; break;
    case OPT_WAIT: cli->wait = 1; break;
    case OPT_FORMAT:
      if (cli->cmd->id == CMD_TAIL)
        return apply_tail_option(cli, opt, value);
      return apply_put_option(cli, opt, value);
    case OPT_PARTITION_KEY:
    case OPT_AGGREGATE:
    case OPT_RECORD_TTL:
    case OPT_RATE_LIMIT:
    case OPT_ORDERED:
    case OPT_STALL_TIMEOUT: return apply_put_option(cli, opt, value);
    case OPT_FROM:
    case OPT_COUNT:
    case OPT_IDLE_EXIT:
    case OPT_CHECKPOINT:
    case OPT_APP:
    case OPT_SESSION_TIMEOUT:
    case OPT_INVALID_CHECKPOINT:
    case OPT_EFO:
    case OPT_EFO_DEREGISTER: return apply_tail_option(cli, opt, value);
    case OPT_STATS: cli->stats = 1; break;
    case OPT_STATS_EVERY:
      cli->stats = 1;
      return parse_number(cli, "stats-every", value, 1,
                          STATS_MAX_EVERY_SECONDS, &cli->stats_every_s);
    case OPT_STATS_FORMAT:
      if (strcmp(value, "prometheus") == 0)
        cli->stats_prometheus = 1;
      else if (strcmp(value, "text") != 0)
        return usage_error(cli->cmd, "--stats-format must be text or "
                           "prometheus, not '%s'", value);
      cli->stats = 1;
      break;
    case OPT_TARGET_SHARD_COUNT:
    case OPT_SHARD_ID:
    case OPT_NEW_STARTING_HASH_KEY:
    case OPT_ADJACENT_SHARD_ID:
    case OPT_STREAM_MODE:
    case OPT_RETENTION_HOURS:
    case OPT_KEY_ID:
    case OPT_TAGS:
    case OPT_TAG_KEYS:
    case OPT_MAX_RECORD_SIZE_KIB:
    case OPT_CONSUMER_NAME:
    case OPT_CONSUMER_ARN: return apply_mgmt_option(cli, opt, value);
    case OPT_PORT:
      return parse_number(cli, "port", value, 0, 65535, &cli->serve_port);
    case OPT_HOST: cli->serve_host = value; break;
    case OPT_KEYS: return parse_serve_keys(cli, value);
    case OPT_THROTTLE:
      return parse_fraction(cli, "throttle", value, &cli->serve_throttle);
    case OPT_ERROR_5XX:
      return parse_fraction(cli, "error-5xx", value, &cli->serve_error_5xx);
    case OPT_PARTIAL:
      return parse_fraction(cli, "partial", value, &cli->serve_partial);
    case OPT_DROP: return parse_fraction(cli, "drop", value, &cli->serve_drop);
    case OPT_LATENCY:
      return parse_number(cli, "latency", value, 0, UINT32_MAX,
                          &cli->serve_latency_ms);
    case OPT_SEED:
      return parse_number(cli, "seed", value, 0, ULONG_MAX, &cli->serve_seed);
    case OPT_NO_LIMITS: cli->serve_no_limits = 1; break;
    case OPT_RESHARD: return parse_reshard(cli, value);
  }
  return CLI_CONTINUE;
}


/* Returns CLI_CONTINUE to run the command, or an exit status. Options take
 * "--name value" or "--name=value"; global options may come before or
 * after the command name, the command's own options only after it. */
int parse_args(cli_t* cli, int argc, char** argv) {
  const char* missing;
  int i;
  int r;

  for (i = 1; i < argc; i++) {
    const char* arg = argv[i];
    const char* name;
    const char* eq;
    const char* value = NULL;
    const option_t* opt;
    size_t len;

    if (arg[0] != '-' || arg[1] == '\0') {
      if (cli->cmd != NULL)
        return usage_error(cli->cmd, "unexpected argument '%s'", arg);
      cli->cmd = find_command(arg);
      if (cli->cmd == NULL)
        return usage_error(NULL, "unknown command '%s'", arg);
      continue;
    }
    if (strcmp(arg, "-h") == 0) {
      cli->help = 1;
      continue;
    }
    if (strcmp(arg, "-v") == 0) {
      cli->verbose = 1;
      continue;
    }
    if (arg[1] != '-' || arg[2] == '\0')
      return usage_error(cli->cmd, "unknown option '%s'", arg);
    name = arg + 2;
    eq = strchr(name, '=');
    len = eq != NULL ? (size_t) (eq - name) : strlen(name);
    opt = find_option(name, len);
    if (opt == NULL)
      return usage_error(cli->cmd, "unknown option '--%.*s'", (int) len,
                         name);
    if (opt->commands != 0) {
      if (cli->cmd == NULL)
        return usage_error(NULL, "option '--%s' goes after the command name",
                           opt->name);
      if ((opt->commands & CMD_BIT(cli->cmd->id)) == 0)
        return usage_error(cli->cmd, "unknown option '--%s'", opt->name);
    }
    if (opt->has_arg) {
      if (eq != NULL) {
        value = eq + 1;
      } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
        value = argv[++i];
      } else {
        return usage_error(cli->cmd, "option '--%s' needs a value", opt->name);
      }
      if (value[0] == '\0')
        return usage_error(cli->cmd, "option '--%s' needs a non-empty value",
                           opt->name);
    } else if (eq != NULL) {
      return usage_error(cli->cmd, "option '--%s' takes no value", opt->name);
    }
    r = apply_option(cli, opt, value);
    if (r != CLI_CONTINUE)
      return r;
  }

  if (cli->help) {
    if (cli->cmd != NULL)
      print_command_help(stdout, cli->cmd);
    else
      print_global_help(stdout);
    return CLI_EXIT_OK;
  }
  if (cli->version) {
    printf("kinesis %s (libkinesis %s)\n", KINESIS_VERSION_STRING,
           kinesis_version_string());
    return CLI_EXIT_OK;
  }
  if (cli->cmd == NULL)
    return usage_error(NULL, "missing command (create-stream, "
                       "describe-stream, put, tail, list-streams...; "
                       "kinesis --help lists them all)");
  /* A consumer named by its ARN needs no stream. */
  if (cli->stream == NULL && cli->cmd->id != CMD_LIST_STREAMS &&
      cli->cmd->id != CMD_WHOAMI && cli->cmd->id != CMD_SERVE &&
      !((CMD_BIT(cli->cmd->id) & ONE_CONSUMER_CMDS) &&
        cli->mgmt.consumer_arn != NULL))
    return usage_error(cli->cmd, "missing --stream NAME");
  if ((missing = mgmt_missing(cli)) != NULL)
    return usage_error(cli->cmd, "missing %s", missing);
  if (cli->mgmt.consumer_arn != NULL &&
      (cli->mgmt.consumer_name != NULL || cli->stream != NULL))
    return usage_error(cli->cmd, "--consumer-arn names the consumer alone: "
                       "no --stream or --consumer-name with it");
  if (cli->tail.efo_deregister && cli->tail.efo == NULL)
    return usage_error(cli->cmd, "--efo-deregister needs --efo NAME|ARN");
  if (cli->cmd->id == CMD_MERGE_SHARDS &&
      strcmp(cli->mgmt.shard_id, cli->mgmt.adjacent_shard_id) == 0)
    return usage_error(cli->cmd, "--shard-id and --adjacent-shard-id name "
                       "the same shard");
  if (cli->on_demand && cli->shards_set)
    return usage_error(cli->cmd, "--shards and --on-demand cannot be used "
                       "together");
  if (!cli->shards_set)
    cli->shards = 1;
  return CLI_CONTINUE;
}
