#!/usr/bin/python3
"""boto3 as a consumer in bench/compare.sh:

    /usr/bin/python3 boto3_consumer.py STREAM RECORDS SIZE [--limit N]

Lists the shards, takes a TRIM_HORIZON iterator for each, then calls
get_records (Limit --limit, default 10000) on each shard in turn, one call
at a time, until a shard's answer is empty (the stream was filled before:
the shard is read) or every record has come. Each record's length, index
and bytes are checked (boto3_common.py). Prints the RESULT line over the
phase from ListShards to the last record; exits 1 when a record is missing,
came twice or is corrupt."""

import sys

from boto3_common import (MIN_SIZE, Phase, make_base, make_client,
                          parse_args, print_result)


def main():
    prog = "boto3_consumer.py"
    stream, n, size, endpoint, opts = parse_args(prog, sys.argv[1:],
                                                 {"limit": 10000})
    tail = make_base(size)[MIN_SIZE:]
    client = make_client(endpoint)
    seen = bytearray(n)
    ok = duplicates = corrupt = requests = 0

    phase = Phase()
    shards = []
    args = {"StreamName": stream}
    while True:
        out = client.list_shards(**args)
        shards += [s["ShardId"] for s in out["Shards"]]
        if not out.get("NextToken"):
            break
        args = {"NextToken": out["NextToken"]}
    iterators = {}
    for shard in shards:
        out = client.get_shard_iterator(StreamName=stream, ShardId=shard,
                                        ShardIteratorType="TRIM_HORIZON")
        iterators[shard] = out["ShardIterator"]

    while iterators and ok < n:
        for shard in list(iterators):
            out = client.get_records(ShardIterator=iterators[shard],
                                     Limit=opts["limit"])
            requests += 1
            records = out["Records"]
            for rec in records:
                d = rec["Data"]
                if len(d) == size and d.endswith(tail):
                    i = int.from_bytes(d[:MIN_SIZE], "little")
                    if i < n:
                        if seen[i]:
                            duplicates += 1
                        else:
                            seen[i] = 1
                            ok += 1
                        continue
                corrupt += 1
                if corrupt <= 10:
                    sys.stderr.write("%s: corrupt record of %d bytes\n"
                                     % (prog, len(d)))
            if not records or not out.get("NextShardIterator"):
                del iterators[shard]
            else:
                iterators[shard] = out["NextShardIterator"]
            if ok == n:
                break
    t = phase.end()

    print_result(n, ok, n - ok, duplicates, corrupt, requests, t)
    if ok != n:
        sys.stderr.write("%s: %d of %d records never came\n"
                         % (prog, n - ok, n))
    return 0 if ok == n and duplicates == 0 and corrupt == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
