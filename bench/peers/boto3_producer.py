#!/usr/bin/python3
"""boto3 as a producer in bench/compare.sh:

    /usr/bin/python3 boto3_producer.py STREAM RECORDS SIZE

Puts records 0 to RECORDS-1 (boto3_common.py) with put_records, 500 records
or 5 MiB (data and keys) per request, one request at a time, as boto3 is
usually called. Records that an answer fails (ErrorCode) go into a later
request, up to 10 attempts each, as libkinesis's producer does; a request
that fails whole after botocore's own retries counts as an attempt for each
of its records. Prints the RESULT line over the phase from the first request
to the last answer; exits 1 when a record failed."""

import sys

from botocore.exceptions import BotoCoreError, ClientError

from boto3_common import (KEYS, Phase, key_index, make_base, make_client,
                          parse_args, print_result)

MAX_BATCH = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_ATTEMPTS = 10


def main():
    prog = "boto3_producer.py"
    stream, n, size, endpoint, _ = parse_args(prog, sys.argv[1:], {})
    tail = make_base(size)[8:]
    client = make_client(endpoint)

    nxt = 0
    retry = []
    attempts = bytearray(n)
    ok = failed = requests = 0
    first_error = None

    phase = Phase()
    while nxt < n or retry:
        records = []
        index = []
        nbytes = 0
        while len(records) < MAX_BATCH:
            if retry:
                i = retry[-1]
            elif nxt < n:
                i = nxt
            else:
                break
            key = KEYS[key_index(i)]
            if records and nbytes + size + len(key) > MAX_BATCH_BYTES:
                break
            if retry:
                retry.pop()
            else:
                nxt += 1
            records.append({"Data": i.to_bytes(8, "little") + tail,
                            "PartitionKey": key})
            index.append(i)
            nbytes += size + len(key)
        try:
            out = client.put_records(StreamName=stream, Records=records)
            codes = [r.get("ErrorCode") for r in out["Records"]]
        except (BotoCoreError, ClientError) as err:
            codes = ["RequestFailed"] * len(index)
            if first_error is None:
                first_error = repr(err)
        requests += 1
        for i, code in zip(index, codes):
            if code is None:
                ok += 1
                continue
            attempts[i] += 1
            if attempts[i] >= MAX_ATTEMPTS:
                failed += 1
                if first_error is None:
                    first_error = code
            else:
                retry.append(i)
    t = phase.end()

    print_result(n, ok, failed, 0, 0, requests, t)
    if first_error is not None:
        sys.stderr.write("%s: %d failed; first error: %s\n"
                         % (prog, failed, first_error))
    return 0 if ok == n and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
