#!/usr/bin/env bash
# libkinesis against the clients users would otherwise pick, on the same
# records, against the same kinesalite: see bench/README.md.
#
#   bench/compare.sh [--sizes 100,1024,25600] [--shards 1,4,16]
#                    [--clients kinesis,node,boto3] [--roles producer,consumer]
#                    [--records N | --scale F] [--repeat N]
#                    [--csv FILE] [--md FILE] [--png FILE] [--logs DIR]
#                    [--build DIR] [--no-setup]
#
# For each configuration (record size x shard count) and each client, a
# producer run puts the records into a fresh stream, and a consumer run
# reads them back from another fresh stream that kn_peer (libkinesis) filled
# beforehand, unmeasured. Each run is one process, started and waited for by
# bench/peers/measure.py: its own rusage (CPU time, peak RSS), and
# kinesalite's CPU time from /proc over the same interval.
#
# Without KINESIS_TEST_ENDPOINT, each configuration runs under its own
# test/with-servers.sh (a fresh kinesalite; every client of a configuration
# meets the same one). Under test/with-servers.sh, every configuration uses
# the server it was given.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
peers="$here/peers"
prog="compare.sh"
python=/usr/bin/python3

sizes="100,1024,25600"
shard_counts="1,4,16"
clients="kinesis,node,boto3"
roles="producer,consumer"
records=""
scale="1"
repeat=1
csv=""
md=""
png=""
logs=""
build="${BUILD_DIR:-$root/build-bench}"
setup=1
inner=""   # internal: "SIZE SHARDS" when run under with-servers.sh by itself

usage() {
  sed -n '2,9p' "$self" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
  --sizes LIST     record sizes in bytes (default 100,1024,25600)
  --shards LIST    shard counts (default 1,4,16)
  --clients LIST   kinesis (libkinesis), node (AWS SDK for JavaScript v3),
                   boto3 (default all three)
  --roles LIST     producer, consumer (default both)
  --records N      records per run, for every size; default by size:
                   up to 512 B 150000, up to 4 KiB 80000, larger 200 MB
                   worth (7812 of 25 KiB): 2 to 10 s a run
  --scale F        multiply the default record counts by F
  --repeat N       run every client, role and configuration N times
  --csv FILE       write the results as CSV (default: a file in /tmp)
  --md FILE        write the markdown table to FILE as well
  --png FILE       run bench/plot.py on the CSV, writing FILE
  --logs DIR       keep every run's output in DIR (default: a temporary
                   directory, removed unless a run failed)
  --build DIR      libkinesis's build directory (default build-bench in
                   the checkout)
  --no-setup       do not run bench/peers/setup.sh first
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="${2:?}"; shift 2 ;;
    --shards) shard_counts="${2:?}"; shift 2 ;;
    --clients) clients="${2:?}"; shift 2 ;;
    --roles) roles="${2:?}"; shift 2 ;;
    --records) records="${2:?}"; shift 2 ;;
    --scale) scale="${2:?}"; shift 2 ;;
    --repeat) repeat="${2:?}"; shift 2 ;;
    --csv) csv="${2:?}"; shift 2 ;;
    --md) md="${2:?}"; shift 2 ;;
    --png) png="${2:?}"; shift 2 ;;
    --logs) logs="${2:?}"; shift 2 ;;
    --build) build="${2:?}"; shift 2 ;;
    --no-setup) setup=0; shift ;;
    --inner) inner="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "bad argument: $1" ;;
  esac
done

IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a shard_list <<<"$shard_counts"
IFS=, read -r -a client_list <<<"$clients"
IFS=, read -r -a role_list <<<"$roles"
for s in "${size_list[@]}"; do
  if ! [[ "$s" =~ ^[0-9]+$ ]] || [ "$s" -lt 8 ] || [ "$s" -gt 1048576 ]; then
    die "bad size: $s (8 to 1048576 bytes)"
  fi
done
for s in "${shard_list[@]}"; do
  if ! [[ "$s" =~ ^[0-9]+$ ]] || [ "$s" -lt 1 ] || [ "$s" -gt 500 ]; then
    die "bad shard count: $s"
  fi
done
for c in "${client_list[@]}"; do
  case "$c" in kinesis|node|boto3) ;; *) die "bad client: $c" ;; esac
done
for r in "${role_list[@]}"; do
  case "$r" in producer|consumer) ;; *) die "bad role: $r" ;; esac
done
[ -z "$records" ] || [[ "$records" =~ ^[1-9][0-9]*$ ]] || die "bad --records: $records"
[[ "$scale" =~ ^[0-9]*\.?[0-9]+$ ]] || die "bad --scale: $scale"
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "bad --repeat: $repeat"

kn_peer="$build/bench/kn_peer"
export PYTHONDONTWRITEBYTECODE=1

# Records per run: 2 to 10 s for each client and role on 2 cores, where
# kinesalite takes 13,000 to 20,000 records/s of 100 B and 1,600 of 25 KiB,
# and gives back about twice as many.
records_for() {
  local size="$1" n
  if [ -n "$records" ]; then
    echo "$records"
    return
  fi
  if [ "$size" -le 512 ]; then n=150000
  elif [ "$size" -le 4096 ]; then n=80000
  else n=$(( 200000000 / size )); [ "$n" -ge 100 ] || n=100
  fi
  awk -v n="$n" -v f="$scale" 'BEGIN { v = int(n * f + 0.5); print (v < 1 ? 1 : v) }'
}

# GetRecords Limit for every consumer: Kinesis answers at most 10 MiB per
# call, kinesalite has no such cap.
limit_for() {
  local l=$(( 10485760 / $1 ))
  [ "$l" -le 10000 ] || l=10000
  [ "$l" -ge 1 ] || l=1
  echo "$l"
}

# ---- /proc: the server process and CPU times ----

# The pid listening on the port of $KINESIS_TEST_ENDPOINT, or nothing.
server_pid() {
  local port hex inode link pid
  port="${KINESIS_TEST_ENDPOINT##*:}"
  port="${port%%/*}"
  hex="$(printf '%04X' "$port")"
  inode="$(awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p &&
    $4 == "0A" { print $10; exit }' /proc/net/tcp /proc/net/tcp6)"
  [ -n "$inode" ] || return 0
  for link in /proc/[0-9]*/fd/*; do
    if [ "$(readlink "$link" 2>/dev/null)" = "socket:[$inode]" ]; then
      pid="${link#/proc/}"
      echo "${pid%%/*}"
      return 0
    fi
  done
}


# ---- One configuration, against $KINESIS_TEST_ENDPOINT ----

csv_header="size_bytes,shards,role,client,rep,records,ok,failed,duplicates,corrupt,exit_status,status,phase_wall_s,records_per_s,phase_user_s,phase_sys_s,cpu_us_per_record,process_wall_s,process_user_s,process_sys_s,process_cpu_us_per_record,peak_rss_kib,server_cpu_s,server_cpu_us_per_record,server_busy_pct,others_cpu_pct,requests,limit,client_version"

# The command line of a client: run_cmd ROLE CLIENT STREAM N SIZE LIMIT
client_cmd() {
  local role="$1" client="$2" stream="$3" n="$4" size="$5" limit="$6"
  case "$client/$role" in
    kinesis/producer) cmd=("$kn_peer" produce "$stream" "$n" "$size") ;;
    kinesis/consumer) cmd=("$kn_peer" consume "$stream" "$n" "$size" --limit "$limit") ;;
    node/producer) cmd=(node "$peers/node_producer.mjs" "$stream" "$n" "$size") ;;
    node/consumer) cmd=(node "$peers/node_consumer.mjs" "$stream" "$n" "$size" --limit "$limit") ;;
    boto3/producer) cmd=("$python" "$peers/boto3_producer.py" "$stream" "$n" "$size") ;;
    boto3/consumer) cmd=("$python" "$peers/boto3_consumer.py" "$stream" "$n" "$size" --limit "$limit") ;;
  esac
}

client_version() {
  case "$1" in
    kinesis) echo "libkinesis $(sed -n 's/^#define KINESIS_VERSION_STRING "\(.*\)"/\1/p' \
      "$root/include/kinesis/version.h") $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(
      git -C "$root" diff --quiet HEAD -- lib include 2>/dev/null || echo '+changes')" ;;
    node) echo "client-kinesis $(node -p "require('$peers/node_modules/@aws-sdk/client-kinesis/package.json').version") node-http-handler $(node -p "require('$peers/node_modules/@smithy/node-http-handler/package.json').version") node $(node --version)" ;;
    boto3) "$python" -c 'import boto3, botocore, platform; print("boto3 %s botocore %s python %s" % (boto3.__version__, botocore.__version__, platform.python_version()))' ;;
  esac
}

# Runs a setup step; on failure, shows its output and returns 1.
step() {
  local log="$1"
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "$prog: FAILED: $*" >&2
    sed 's/^/    /' "$log" >&2
    return 1
  fi
}

run_config() {
  local size="$1" shards="$2" n limit spid role client rep stream log base
  local rc line t warm runs=0
  n="$(records_for "$size")"
  limit="$(limit_for "$size")"
  spid="$(server_pid)"
  if [ -z "$spid" ]; then
    echo "$prog: warning: the server's process was not found; no server CPU" >&2
  fi
  declare -A versions
  for client in "${client_list[@]}"; do
    versions[$client]="$(client_version "$client")"
  done
  echo "$prog: $size B records, $shards shards, $n records a run; server pid ${spid:-?}" >&2
  # Warm kinesalite up (node compiles its hot paths on first use), so that
  # the first client measured does not pay for it: records of this size,
  # put and read back with kn_peer, unmeasured.
  warm="cmp-warmup-$size-$shards-$$"
  if step "$logdir/$size-$shards-warmup.create.log" "$kn_peer" create "$warm" "$shards"; then
    if step "$logdir/$size-$shards-warmup.produce.log" "$kn_peer" produce "$warm" \
        "$(( (n + 3) / 4 ))" "$size"; then
      step "$logdir/$size-$shards-warmup.consume.log" "$kn_peer" consume "$warm" \
        "$(( (n + 3) / 4 ))" "$size" --limit "$limit" || true
    fi
    step "$logdir/$size-$shards-warmup.delete.log" "$kn_peer" delete "$warm" || true
  fi
  for rep in $(seq 1 "$repeat"); do
    for role in "${role_list[@]}"; do
      for client in "${client_list[@]}"; do
        runs=$(( runs + 1 ))
        stream="cmp-$role-$client-$size-$shards-$$-$runs"
        base="$logdir/$size-$shards-$role-$client-$rep"
        step "$base.setup.log" "$kn_peer" create "$stream" "$shards" || { failures=1; continue; }
        if [ "$role" = consumer ] &&
            ! step "$base.fill.log" "$kn_peer" produce "$stream" "$n" "$size"; then
          failures=1
          step "$base.delete.log" "$kn_peer" delete "$stream" || true
          continue
        fi
        client_cmd "$role" "$client" "$stream" "$n" "$size" "$limit"
        set +e
        "$python" "$peers/measure.py" "$base.time" "${spid:-0}" -- "${cmd[@]}" \
          >"$base.out" 2>"$base.err"
        rc=$?
        set -e
        step "$base.delete.log" "$kn_peer" delete "$stream" || failures=1
        line="$(grep -m1 '^RESULT ' "$base.out" || true)"
        t="$(grep -m1 '^TIME ' "$base.time" 2>/dev/null || echo 'TIME 0 0 0 0 -1 -1')"
        if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
          failures=1
          echo "$prog: $client $role exited with $rc:" >&2
          grep -v 'NodeVersionSupportWarning\|^$' "$base.err" | tail -5 | sed 's/^/    /' >&2 || true
        fi
        # One CSV row from the RESULT line and measure.py's TIME line.
        awk -v size="$size" -v shards="$shards" -v role="$role" -v client="$client" \
            -v rep="$rep" -v n="$n" -v rc="$rc" -v line="$line" -v t="$t" \
            -v limit="$([ "$role" = consumer ] && echo "$limit")" \
            -v version="${versions[$client]}" '
          BEGIN {
            split(line, kv, " ")
            for (i in kv) { split(kv[i], p, "="); r[p[1]] = p[2] }
            split(t, tm, " ")
            ok = r["ok"] + 0; failed = (line == "" ? n : r["failed"] + 0)
            dup = r["duplicates"] + 0; bad = r["corrupt"] + 0
            wall = r["wall_s"] + 0; cpu = r["user_s"] + r["sys_s"]
            pwall = tm[2] + 0; pcpu = tm[3] + tm[4]
            status = "ok"
            if (line == "") status = "FAILED: no result (exit " rc ")"
            else if (ok != n || failed || dup || bad || rc != 0) {
              status = "FAILED:"
              if (ok != n) status = status " " ok "/" n " ok"
              if (failed) status = status " " failed " failed"
              if (dup) status = status " " dup " duplicates"
              if (bad) status = status " " bad " corrupt"
              if (rc != 0) status = status " exit " rc
            }
            scpu = tm[6] + 0; has_srv = (scpu >= 0)
            # What the rest of the machine used meanwhile: the busy time of all CPUs
            # less the client and the server, per wall second.
            mcpu = tm[7] + 0
            others = (mcpu >= 0 && has_srv && pwall > 0) ? sprintf("%.0f", 100 * (mcpu - pcpu - scpu) / pwall) : ""
            printf "%s,%s,%s,%s,%s,%d,%d,%d,%d,%d,%d,\"%s\",%.3f,%.0f,%.3f,%.3f,%.3f,%.2f,%.2f,%.2f,%.3f,%d,%s,%s,%s,%s,%s,%s,\"%s\"\n",
              size, shards, role, client, rep, n, ok, failed, dup, bad, rc, status,
              wall, (wall > 0 ? ok / wall : 0), r["user_s"], r["sys_s"],
              (n > 0 ? cpu * 1e6 / n : 0), pwall, tm[3], tm[4],
              (n > 0 ? pcpu * 1e6 / n : 0), tm[5],
              (has_srv ? sprintf("%.2f", scpu) : ""),
              (has_srv ? sprintf("%.1f", scpu * 1e6 / n) : ""),
              (has_srv && (wall > 0 || pwall > 0) ? sprintf("%.0f", 100 * scpu / (wall > 0 ? wall : pwall)) : ""),
              others,
              r["requests"] + 0, limit, version
          }' >>"$csv"
        tail -n 1 "$csv" | awk -F, '{
          printf "  %-8s %-7s %3s: %s rec/s, %s us/rec client CPU (%s whole process), %.1f MiB, server %s us/rec (%s%% busy), others %s%% %s\n",
            $3, $4, $5, $14, $17, $21, $22 / 1024, $24, $25, $26, $12 }' >&2
      done
    done
  done
}

# ---- Inner mode: one configuration under with-servers.sh ----

if [ -n "$inner" ]; then
  [ -n "${KINESIS_TEST_ENDPOINT:-}" ] || die "--inner needs KINESIS_TEST_ENDPOINT"
  if [ -z "$csv" ] || [ -z "$logs" ]; then
    die "--inner needs --csv and --logs"
  fi
  logdir="$logs"
  failures=0
  read -r isize ishards <<<"$inner"
  run_config "$isize" "$ishards"
  exit "$failures"
fi

# ---- Outer mode ----

if [ "$setup" -eq 1 ]; then
  "$peers/setup.sh" "$build"
fi
[ -x "$kn_peer" ] || die "$kn_peer is missing: run bench/peers/setup.sh $build"

stamp="$(date +%Y%m%d-%H%M%S)"
[ -n "$csv" ] || csv="/tmp/kinesis-compare-$stamp.csv"
if [ -n "$logs" ]; then
  mkdir -p "$logs"
  logdir="$(cd "$logs" && pwd)"
  keep_logs=1
else
  logdir="$(mktemp -d "${TMPDIR:-/tmp}/kinesis-compare.XXXXXX")"
  keep_logs=0
fi
echo "$csv_header" >"$csv"
csv="$(cd "$(dirname "$csv")" && pwd)/$(basename "$csv")"

{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# kinesalite $(node -p "require('$root/test/node_modules/kinesalite/package.json').version"), node $(node --version)"
  for client in "${client_list[@]}"; do echo "# $client: $(client_version "$client")"; done
} | tee "$logdir/header.txt" >&2

failures=0
for size in "${size_list[@]}"; do
  for shards in "${shard_list[@]}"; do
    if [ -n "${KINESIS_TEST_ENDPOINT:-}" ]; then
      run_config "$size" "$shards"
    else
      # A fresh kinesalite for each configuration: test/servers.js lives at
      # most 30 minutes, and memory freed by DeleteStream stays with node.
      set +e
      "$root/test/with-servers.sh" "$self" --inner "$size $shards" \
        --csv "$csv" --logs "$logdir" --build "$build" --repeat "$repeat" \
        --clients "$clients" --roles "$roles" \
        ${records:+--records "$records"} --scale "$scale"
      rc=$?
      set -e
      [ "$rc" -eq 0 ] || failures=1
    fi
  done
done

# ---- The table ----

table() {
  "$python" - "$1" "$logdir/header.txt" <<'EOF'
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1])))
names = {"kinesis": "libkinesis", "node": "AWS SDK JS v3", "boto3": "boto3"}
for line in open(sys.argv[2]):
    print(line.rstrip("\n").replace("# ", "", 1) + "  ")
print()
print("| records | shards | role | client | ok | records/s | client CPU us/record"
      " | (whole process) | peak RSS MiB | server CPU us/record | server busy | others |")
print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
def size(b):
    b = int(b)
    return "%d KiB" % (b // 1024) if b % 1024 == 0 else "%d B" % b
for r in rows:
    ok = "%s/%s" % (r["ok"], r["records"])
    if r["status"] != "ok":
        ok += " **%s**" % r["status"]
    busy = r["server_busy_pct"] + "%" if r["server_busy_pct"] else "n/a"
    others = r["others_cpu_pct"] + "%" if r["others_cpu_pct"] else "n/a"
    print("| %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.1f | %s | %s | %s |" % (
        size(r["size_bytes"]), r["shards"], r["role"], names.get(r["client"], r["client"]),
        ok, format(int(float(r["records_per_s"])), ","), float(r["cpu_us_per_record"]),
        float(r["process_cpu_us_per_record"]), int(r["peak_rss_kib"]) / 1024,
        r["server_cpu_us_per_record"] or "n/a", busy, others))
EOF
}

echo >&2
if [ -n "$md" ]; then
  table "$csv" | tee "$md"
else
  table "$csv"
fi
echo >&2
echo "$prog: CSV: $csv" >&2
if [ -n "$png" ]; then
  "$python" "$here/plot.py" "$csv" "$png" && echo "$prog: PNG: $png" >&2 || failures=1
fi
if [ "$failures" -ne 0 ]; then
  echo "$prog: some runs FAILED; their output is in $logdir" >&2
  exit 1
fi
if [ "$keep_logs" -eq 0 ]; then
  rm -rf "$logdir"
else
  echo "$prog: logs: $logdir" >&2
fi
