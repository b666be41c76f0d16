#!/usr/bin/env bash
# The `kinesis` command as a user runs it, measured whole process, beside
# the AWS SDK for JavaScript v3 doing the same work in the same run: see
# bench/README.md, "cli.sh".
#
#   bench/cli.sh [--records N] [--size B] [--shards N] [--repeat N]
#                [--runs LIST] [--build DIR] [--csv FILE] [--logs DIR]
#
# Each run is one process started and waited for by bench/peers/measure.py,
# against a fresh stream of SHARDS shards:
#
#   put            kinesis put, default options (rate limits on), stdin a
#                  file of RECORDS lines of SIZE bytes
#   put-aggregate  the same with --aggregate
#   tail-raw       kinesis tail --count RECORDS --format raw into a pipe, the
#                  stream filled beforehand (unmeasured) with kn_peer's records
#   tail-json      the same with --format json
#   node-producer  bench/peers/node_producer.mjs, the same count and size
#   node-consumer  bench/peers/node_consumer.mjs on a stream filled the same
#                  way as tail's
#
# Without KINESIS_TEST_ENDPOINT it runs itself under test/with-servers.sh (a
# fresh kinesalite). It prints each run as it goes on stderr and the table on
# stdout; it exits 1 when a run failed (its output is kept).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
peers="$here/peers"
prog="cli.sh"
python=/usr/bin/python3

records=100000
size=100
shards=4
repeat=1
runs="put,put-aggregate,tail-raw,tail-json,node-producer,node-consumer"
build="${BUILD_DIR:-$root/build-bench}"
csv=""
logs=""

usage() {
  sed -n '2,25p' "$self" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
  --records N   records per run (default 100000)
  --size B      bytes per record, 8 to 1000 (default 100)
  --shards N    shards per stream (default 4)
  --repeat N    run the list N times, alternating (default 1)
  --runs LIST   which runs, comma-separated (default all six)
  --build DIR   a release build with -Dbenchmarks=true (default build-bench;
                bench/peers/setup.sh makes it and installs the node peers)
  --csv FILE    also write every figure as CSV
  --logs DIR    keep every run's output in DIR
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="${2:?}"; shift 2 ;;
    --size) size="${2:?}"; shift 2 ;;
    --shards) shards="${2:?}"; shift 2 ;;
    --repeat) repeat="${2:?}"; shift 2 ;;
    --runs) runs="${2:?}"; shift 2 ;;
    --build) build="${2:?}"; shift 2 ;;
    --csv) csv="${2:?}"; shift 2 ;;
    --logs) logs="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "bad argument: $1" ;;
  esac
done
[[ "$records" =~ ^[1-9][0-9]*$ ]] || die "bad --records: $records"
[[ "$size" =~ ^[0-9]+$ ]] && [ "$size" -ge 8 ] && [ "$size" -le 1000 ] ||
  die "bad --size: $size (8 to 1000)"
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "bad --shards: $shards"
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "bad --repeat: $repeat"
IFS=, read -r -a run_list <<<"$runs"
for r in "${run_list[@]}"; do
  case "$r" in
    put|put-aggregate|tail-raw|tail-json|node-producer|node-consumer) ;;
    *) die "bad run: $r" ;;
  esac
done

kinesis="$build/tools/kinesis"
kn_peer="$build/bench/kn_peer"
[ -x "$kinesis" ] && [ -x "$kn_peer" ] ||
  die "$kinesis or $kn_peer is missing: run bench/peers/setup.sh $build"

if [ -z "${KINESIS_TEST_ENDPOINT:-}" ]; then
  exec "$root/test/with-servers.sh" "$self" "${args[@]}"
fi

export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret-key
export AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS
export AWS_EC2_METADATA_DISABLED=true
export PYTHONDONTWRITEBYTECODE=1
endpoint=(--endpoint-url "$KINESIS_TEST_ENDPOINT")

if [ -n "$logs" ]; then
  mkdir -p "$logs"
  logdir="$(cd "$logs" && pwd)"
else
  logdir="$(mktemp -d "${TMPDIR:-/tmp}/kinesis-cli-bench.XXXXXX")"
fi
failures=0

# The pid of the server on the endpoint's port (its socket's inode, found
# in /proc/net/tcp, then among every process's descriptors), for its CPU.
server_pid() {
  local port hex inode link
  port="${KINESIS_TEST_ENDPOINT##*:}"
  port="${port%%/*}"
  hex="$(printf ':%04X' "$port")"
  inode="$(awk -v p="$hex" 'FNR > 1 && $4 == "0A" &&
    substr($2, length($2) - 4) == p { print $10; exit }' /proc/net/tcp /proc/net/tcp6)"
  [ -n "$inode" ] || { echo 0; return; }
  for link in /proc/[0-9]*/fd/*; do
    if [ "$(readlink "$link" 2>/dev/null)" = "socket:[$inode]" ]; then
      link="${link#/proc/}"
      echo "${link%%/*}"
      return
    fi
  done
  echo 0
}
spid="$(server_pid)"

# put's input: line i is i in decimal, zero-padded to 8 digits, then
# 'a' + k % 26 at offset k up to SIZE bytes, then a newline.
input="$logdir/input.txt"
awk -v n="$records" -v size="$size" 'BEGIN {
  for (k = 8; k < size; k++) tail = tail sprintf("%c", 97 + k % 26)
  for (i = 0; i < n; i++) printf "%08d%s\n", i, tail
}' >"$input"

# Checks tail's stdout: every record of kn_peer's (bench/README.md, "The
# records") exactly once, raw (SIZE bytes and a newline each) or JSON lines.
# Reads everything first, so that it takes no CPU while tail runs.
checker="$logdir/check.py"
cat >"$checker" <<'EOF'
import base64, json, struct, sys
fmt, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdin.buffer.read()
base = bytes(97 + k % 26 for k in range(size))
seen = bytearray(n)
ok = dup = bad = 0
if fmt == "raw":
    recs = [out[i:i + size] for i in range(0, len(out), size + 1)]
    if len(out) % (size + 1) != 0 or out[size::size + 1].strip(b"\n"):
        bad += 1
else:
    recs = [base64.b64decode(json.loads(l)["data_b64"]) for l in out.splitlines()]
for d in recs:
    i = struct.unpack_from("<Q", d)[0] if len(d) >= 8 else n
    if len(d) != size or d[8:] != base[8:] or i >= n:
        bad += 1
    elif seen[i]:
        dup += 1
    else:
        seen[i] = 1
        ok += 1
print("CHECK ok=%d duplicates=%d corrupt=%d" % (ok, dup, bad))
sys.exit(0 if ok == n and dup == 0 and bad == 0 else 1)
EOF

if [ -n "$csv" ]; then
  echo "run,rep,records,size,shards,ok,exit_status,wall_s,records_per_s,user_s,sys_s,cpu_us_per_record,peak_rss_kib,server_cpu_us_per_record,phase_cpu_us_per_record,note" >"$csv"
fi
rows="$logdir/rows.txt"
: >"$rows"

# run_one RUN REP: one measured run; appends a row.
run_one() {
  local run="$1" rep="$2" stream base rc ok note phase="" check=""
  stream="cli-bench-$run-$$-$rep"
  base="$logdir/$run-$rep"
  "$kn_peer" create "$stream" "$shards" >"$base.setup.log" 2>&1 || {
    echo "$prog: $run: create failed" >&2; failures=1; return; }
  case "$run" in
    tail-*|node-consumer)
      "$kn_peer" produce "$stream" "$records" "$size" >>"$base.setup.log" 2>&1 || {
        echo "$prog: $run: fill failed" >&2; failures=1; return; } ;;
  esac
  set +e
  case "$run" in
    put|put-aggregate)
      "$python" "$peers/measure.py" "$base.time" "$spid" -- "$kinesis" \
        "${endpoint[@]}" put --stream "$stream" \
        $([ "$run" = put-aggregate ] && echo --aggregate) \
        <"$input" >"$base.out" 2>"$base.err"
      rc=$? ;;
    tail-raw|tail-json)
      "$python" "$peers/measure.py" "$base.time" "$spid" -- "$kinesis" \
        "${endpoint[@]}" tail --stream "$stream" --count "$records" \
        --idle-exit 30 --format "${run#tail-}" 2>"$base.err" |
        "$python" "$checker" "${run#tail-}" "$records" "$size" >"$base.out"
      rc=$(( PIPESTATUS[0] != 0 ? PIPESTATUS[0] : PIPESTATUS[1] )) ;;
    node-producer)
      "$python" "$peers/measure.py" "$base.time" "$spid" -- node \
        "$peers/node_producer.mjs" "$stream" "$records" "$size" \
        >"$base.out" 2>"$base.err"
      rc=$? ;;
    node-consumer)
      "$python" "$peers/measure.py" "$base.time" "$spid" -- node \
        "$peers/node_consumer.mjs" "$stream" "$records" "$size" --limit 10000 \
        >"$base.out" 2>"$base.err"
      rc=$? ;;
  esac
  set -e
  "$kn_peer" delete "$stream" >>"$base.setup.log" 2>&1 || true
  # What was delivered: put's summary line, the checker's line, or the
  # peer's RESULT line (whose phase CPU is shown beside the whole process).
  case "$run" in
    put*) ok="$(sed -n 's/^kinesis: put: \([0-9]*\) records\{0,1\}, .* \([0-9]*\) records\/s$/\1/p' "$base.err")"
          note="$(sed -n 's/^kinesis: put: .*, \([0-9]*\) records\/s$/put says \1 records\/s/p' "$base.err")" ;;
    tail-*) ok="$(sed -n 's/^CHECK ok=\([0-9]*\) .*/\1/p' "$base.out")"
            check="$(grep -m1 '^CHECK' "$base.out" || true)" ;;
    node-*) ok="$(sed -n 's/^RESULT .* ok=\([0-9]*\) .*/\1/p' "$base.out")"
            phase="$(awk -v n="$records" '/^RESULT / { for (i = 1; i <= NF; i++) {
              split($i, kv, "="); r[kv[1]] = kv[2] }
              printf "%.3f", (r["user_s"] + r["sys_s"]) * 1e6 / n }' "$base.out")" ;;
  esac
  ok="${ok:-0}"
  if [ "$rc" -ne 0 ] || [ "$ok" -ne "$records" ]; then
    failures=1
    note="FAILED: exit $rc, $ok/$records ${check:-}"
    echo "$prog: $run FAILED (exit $rc, $ok of $records); output in $logdir" >&2
    tail -n 5 "$base.err" | sed 's/^/    /' >&2
  fi
  awk -v run="$run" -v rep="$rep" -v n="$records" -v size="$size" \
      -v shards="$shards" -v ok="$ok" -v rc="$rc" -v phase="$phase" \
      -v note="${note:-}" '
    { wall = $2; cpu = $3 + $4
      srv = ($6 >= 0 ? sprintf("%.1f", $6 * 1e6 / n) : "")
      printf "%s,%s,%d,%d,%d,%d,%d,%.2f,%.0f,%.3f,%.3f,%.3f,%d,%s,%s,\"%s\"\n",
        run, rep, n, size, shards, ok, rc, wall, (wall > 0 ? ok / wall : 0),
        $3, $4, cpu * 1e6 / n, $5, srv, phase, note }' "$base.time" >>"$rows"
  tail -n 1 "$rows" | tr -d '"' | awk -F, '{ printf "  %-14s %s: %s records/s, %s us/record whole process (user %s s, sys %s s), %.1f MiB, server %s us/record %s\n",
    $1, $2, $9, $12, $10, $11, $13 / 1024, $14, $16 }' >&2
}

echo "$prog: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
  "$records records of $size B, $shards shards; server pid $spid" >&2
for rep in $(seq 1 "$repeat"); do
  for run in "${run_list[@]}"; do
    run_one "$run" "$rep"
  done
done
[ -z "$csv" ] || cat "$rows" >>"$csv"

# The table: every run, then the median of each when repeated.
"$python" - "$rows" "$records" "$size" "$shards" <<'EOF'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
n, size, shards = sys.argv[2:5]
targets = {"put": "<= 1", "tail-raw": "<= 1", "tail-json": "<= 1.5"}
print("%s records of %s B, %s shards; CPU is the whole process's user + "
      "system time (wait4), divided by the records" % (n, size, shards))
print()
print("| run | rep | ok | records/s | CPU us/record | target | peak RSS MiB "
      "| server CPU us/record | peer's own phase us/record | note |")
print("|---|---|---|---:|---:|---|---:|---:|---:|---|")
for r in rows:
    print("| %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %s |" % (
        r[0], r[1], r[5], format(int(float(r[8])), ","), r[11],
        targets.get(r[0], ""), int(r[12]) / 1024, r[13] or "n/a",
        r[14] or "", r[15]))
if len(set(r[1] for r in rows)) > 1:
    print()
    print("| run | median CPU us/record | range | median records/s |")
    print("|---|---:|---|---:|")
    for run in dict.fromkeys(r[0] for r in rows):
        c = [float(r[11]) for r in rows if r[0] == run]
        w = [float(r[8]) for r in rows if r[0] == run]
        print("| %s | %.3f | %.3f to %.3f | %s |" % (
            run, statistics.median(c), min(c), max(c),
            format(int(statistics.median(w)), ",")))
EOF

if [ "$failures" -ne 0 ]; then
  echo "$prog: some runs FAILED; their output is in $logdir" >&2
  exit 1
fi
[ -n "$logs" ] || rm -rf "$logdir"
