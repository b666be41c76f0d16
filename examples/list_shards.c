/* The README's embedding example: list a stream's shards.
 * Usage: list_shards STREAM [ENDPOINT] */
#include <stdio.h>
#include <kinesis.h>

static void on_shards(kinesis_client_t* client, int status,
                      const kinesis_result_t* res, void* arg) {
  size_t i;
  (void) arg;
  if (status != 0)
    fprintf(stderr, "ListShards: %s: %s\n", kinesis_err_name(status),
            res->error_message);
  for (i = 0; i < res->nshards; i++)
    printf("%s [%s, %s]\n", res->shards[i].shard_id,
           res->shards[i].starting_hash_key, res->shards[i].ending_hash_key);
  kinesis_client_close(client, NULL, NULL);   /* closes every handle it owns */
}

int main(int argc, char** argv) {
  uv_loop_t* loop = uv_default_loop();         /* your application's loop */
  kinesis_client_options_t opts;
  kinesis_client_t* client;

  kinesis_client_options_init(&opts);
  opts.endpoint_url = argc > 2 ? argv[2] : NULL; /* e.g. kinesalite */
  if (argc < 2)
    return 2;
  if (kinesis_client_new(loop, &opts, &client) != 0)
    return 1;
  if (kinesis_client_list_shards(client, argv[1], on_shards, NULL) != 0)
    return 1;
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop);
}
