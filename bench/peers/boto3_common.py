"""What boto3_producer.py and boto3_consumer.py share: the records (the same
as kn_peer.c's and node_common.mjs's; see README.md, "The records"), the
client, argument parsing and the RESULT line bench/compare.sh reads."""

import os
import resource
import sys
import time

import boto3
from botocore.config import Config

NKEYS = 1000
MIN_SIZE = 8


def key_index(i):
    """Record i's partition key is "pk-" + KEYS[key_index(i)]."""
    return ((i * 2654435761) & 0xFFFFFFFF) % NKEYS


KEYS = ["pk-%d" % k for k in range(NKEYS)]


def make_base(size):
    """Every record's bytes but its index: 'a' + k % 26 at offset k."""
    return bytes(0x61 + k % 26 for k in range(size))


def parse_args(prog, argv, opts):
    """STREAM RECORDS SIZE [--name value]...; `opts` holds the defaults."""

    def usage():
        extra = "".join(" [--%s N]" % k for k in opts)
        sys.stderr.write("usage: %s STREAM RECORDS SIZE%s\n" % (prog, extra))
        sys.exit(2)

    if len(argv) < 3 or (len(argv) - 3) % 2 != 0:
        usage()
    try:
        stream, n, size = argv[0], int(argv[1]), int(argv[2])
        for i in range(3, len(argv), 2):
            name = argv[i][2:] if argv[i].startswith("--") else ""
            if name not in opts or int(argv[i + 1]) <= 0:
                usage()
            opts[name] = int(argv[i + 1])
    except ValueError:
        usage()
    if not stream or n <= 0 or not MIN_SIZE <= size <= 1048576:
        usage()
    endpoint = os.environ.get("KINESIS_TEST_ENDPOINT")
    if not endpoint:
        sys.stderr.write("%s: KINESIS_TEST_ENDPOINT is not set\n" % prog)
        sys.exit(2)
    return stream, n, size, endpoint, opts


def make_client(endpoint):
    """boto3's Kinesis client with fixed dummy credentials and its default
    (standard mode) retries."""
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench-secret-key",
        config=Config(retries={"mode": "standard"}),
    )


class Phase:
    """Wall time and this process's CPU time, every thread
    (getrusage(RUSAGE_SELF))."""

    def __init__(self):
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.monotonic()

    def end(self):
        t1 = time.monotonic()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "wall": t1 - self.t0,
            "user": ru1.ru_utime - self.ru0.ru_utime,
            "sys": ru1.ru_stime - self.ru0.ru_stime,
        }


def print_result(n, ok, failed, duplicates, corrupt, requests, t):
    sys.stdout.write(
        "RESULT records=%d ok=%d failed=%d duplicates=%d corrupt=%d "
        "wall_s=%.6f user_s=%.6f sys_s=%.6f requests=%d\n"
        % (n, ok, failed, duplicates, corrupt, t["wall"], t["user"], t["sys"],
           requests))
    sys.stdout.flush()
