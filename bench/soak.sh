#!/usr/bin/env bash
# Soak run (issue 7; not part of CI): a producer and a consumer against
# kinesalite for --minutes minutes, their resident memory and open file
# descriptors sampled every --interval seconds, then a verdict on whether
# both stayed flat, and a check that every record put was consumed.
#
#   bench/soak.sh [--minutes M] [--rate N] [--shards N] [--interval S]
#                 [--kinesis PATH]
#
#   --minutes M     how long records are produced (default 10)
#   --rate N        records per second offered to the producer (default 500)
#   --shards N      shards of the stream (default 4)
#   --interval S    seconds between samples (default 10)
#   --kinesis PATH  the `kinesis` command (default build/tools/kinesis)
#
# The clients are two `kinesis` processes (tools/kinesis.c, on the public
# API): `kinesis put`, fed records of unique data at --rate a second by a
# small generator through a pipe, and `kinesis tail` with the memory
# checkpointer, reading from TRIM_HORIZON the whole time. Each sample prints,
# for each of them, VmRSS (from /proc/PID/status) and the entries of
# /proc/PID/fd, and the records/s produced and consumed since the last
# sample.
#
# Verdict: after a warm-up (the first quarter of the run, at least two
# samples), a client's RSS is "flat" when its last sample exceeds its
# smallest warmed-up sample by at most 10% + 2 MiB (a leak of a few bytes a
# record shows as steady growth: 500 records/s x 600 s = 300,000 records),
# and its fds are flat when they never exceed their warmed-up minimum by
# more than 4. The exit status is 0 only when both clients are flat and every
# record put was printed by the tail.
#
# Unless KINESIS_TEST_ENDPOINT is set, it runs itself under
# test/with-servers.sh (a fresh kinesalite for the run). kinesalite keeps the
# records in memory, so its own RSS grows (it is printed, not judged).
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
prog="soak.sh"

minutes=10
rate=500
shards=4
interval=10
kinesis="$root/build/tools/kinesis"

usage() {
  sed -n '/^#   bench\/soak.sh/,/^#   --kinesis/p' "$0" | sed -e 's/^# \{0,1\}//'
}

args=("$@")
while [ "$#" -gt 0 ]; do
  case "$1" in
    --minutes) minutes="${2:-}"; shift 2 ;;
    --rate) rate="${2:-}"; shift 2 ;;
    --shards) shards="${2:-}"; shift 2 ;;
    --interval) interval="${2:-}"; shift 2 ;;
    --kinesis) kinesis="${2:-}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$prog: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in minutes rate shards interval; do
  case "${!v}" in
    '' | *[!0-9]*) echo "$prog: --$v needs a positive whole number" >&2; exit 2 ;;
  esac
  if [ "${!v}" -lt 1 ]; then
    echo "$prog: --$v needs a positive whole number" >&2
    exit 2
  fi
done
case "$kinesis" in
  /*) ;;
  *) kinesis="$PWD/$kinesis" ;;
esac
if [ ! -x "$kinesis" ]; then
  echo "$prog: $kinesis is not executable (build it, or pass --kinesis PATH)" >&2
  exit 2
fi
command -v python3 >/dev/null 2>&1 || { echo "$prog: python3 is needed" >&2; exit 2; }

if [ -z "${KINESIS_TEST_ENDPOINT:-}" ]; then
  exec "$root/test/with-servers.sh" "$0" "${args[@]}" --kinesis "$kinesis"
fi

export LC_ALL=C
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY=secret
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS
EP="$KINESIS_TEST_ENDPOINT"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-soak.XXXXXX")"
: >"$tmp/empty"
export AWS_CONFIG_FILE="$tmp/empty"
export AWS_SHARED_CREDENTIALS_FILE="$tmp/empty"
stream="soak-$$"
gen_pid=""
put_pid=""
tail_pid=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$? p
  trap - EXIT INT TERM HUP
  for p in $gen_pid $put_pid $tail_pid; do
    kill -TERM "$p" 2>/dev/null
  done
  for p in $gen_pid $put_pid $tail_pid; do
    wait "$p" 2>/dev/null
  done
  timeout 10 "$kinesis" --endpoint-url "$EP" delete-stream --stream "$stream" \
    >/dev/null 2>&1
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# kinesalite's process: the one listening on the endpoint's port.
kport="${EP##*:}"
kpid="$(ss -Hltnp "sport = :$kport" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)"

rss_kib() {
  awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}
nfds() {
  local d="/proc/$1/fd"
  [ -d "$d" ] || { echo 0; return; }
  find "$d" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
now_s() {
  local t="$EPOCHREALTIME"
  echo "${t%[.,]*}"
}

if ! timeout 60 "$kinesis" --endpoint-url "$EP" create-stream --stream "$stream" \
    --shards "$shards" --wait 2>"$tmp/create.err"; then
  echo "$prog: create-stream failed: $(cat "$tmp/create.err")" >&2
  exit 1
fi

# The consumer first, so that it reads while records arrive.
"$kinesis" --endpoint-url "$EP" tail --stream "$stream" --format raw \
  >"$tmp/tail.out" 2>"$tmp/tail.err" </dev/null &
tail_pid=$!

# The generator: `rate` records a second, in 10 slices, for `minutes`; its
# count of lines written goes to $tmp/sent.
mkfifo "$tmp/pipe"
python3 -c '
import sys, time
rate, seconds, sent_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = sys.stdout
start = time.monotonic()
n = 0
slice_n = max(1, rate // 10)
while True:
    now = time.monotonic() - start
    if now >= seconds:
        break
    due = int(now * rate) + slice_n
    lines = []
    while n < due:
        lines.append("soak-%09d" % n)
        n += 1
    out.write("\n".join(lines) + "\n")
    out.flush()
    with open(sent_path + ".tmp", "w") as f:
        f.write(str(n))
    import os
    os.replace(sent_path + ".tmp", sent_path)
    time.sleep(0.1)
' "$rate" "$((minutes * 60))" "$tmp/sent" >"$tmp/pipe" &
gen_pid=$!
"$kinesis" --endpoint-url "$EP" put --stream "$stream" <"$tmp/pipe" \
  >/dev/null 2>"$tmp/put.err" &
put_pid=$!

echo "# soak: $minutes min at $rate records/s offered, $shards shards, a sample every $interval s"
echo "# kinesis $("$kinesis" --version 2>&1 | head -n 1), endpoint $EP"
printf '%6s %10s %8s %7s %11s %9s %8s %10s %10s %10s\n' time_s put_rss_kb put_fds \
  put_r/s tail_rss_kb tail_fds tail_r/s sent consumed kl_rss_kb

start=$(now_s)
end=$((start + minutes * 60))
samples=0
early=0
last_sent=0
last_cons=0
last_t=$start
: >"$tmp/samples"
while :; do
  sleep "$interval"
  t=$(now_s)
  # The producer ends by itself once the generator stops, at `end`; the
  # consumer never does.
  if ! kill -0 "$tail_pid" 2>/dev/null ||
      { ! kill -0 "$put_pid" 2>/dev/null && [ "$t" -lt "$end" ]; }; then
    echo "$prog: a client exited before the end:" >&2
    tail -n 2 "$tmp/put.err" "$tmp/tail.err" >&2
    early=1
    break
  fi
  ! kill -0 "$put_pid" 2>/dev/null && break
  sent=$(cat "$tmp/sent" 2>/dev/null || echo 0)
  cons=$(wc -l <"$tmp/tail.out")
  dt=$((t - last_t))
  [ "$dt" -ge 1 ] || dt=1
  prss=$(rss_kib "$put_pid")
  pfd=$(nfds "$put_pid")
  trss=$(rss_kib "$tail_pid")
  tfd=$(nfds "$tail_pid")
  krss=0
  [ -n "$kpid" ] && krss=$(rss_kib "$kpid")
  printf '%6d %10d %8d %7d %11d %9d %8d %10d %10d %10d\n' $((t - start)) "$prss" "$pfd" \
    $(((sent - last_sent) / dt)) "$trss" "$tfd" $(((cons - last_cons) / dt)) "$sent" "$cons" "$krss"
  echo "$((t - start)) $prss $pfd $trss $tfd" >>"$tmp/samples"
  samples=$((samples + 1))
  last_sent=$sent
  last_cons=$cons
  last_t=$t
  # The last sample is taken at or just after the end of production.
  [ "$t" -ge "$end" ] && break
done

# The producer ends when the generator's pipe closes and its buffer drains.
wait "$gen_pid" 2>/dev/null
gen_pid=""
put_ok=1
if ! timeout 60 tail --pid="$put_pid" -f /dev/null; then put_ok=0; fi
wait "$put_pid"
put_status=$?
put_pid=""
[ "$put_status" -eq 0 ] || put_ok=0
sent=$(cat "$tmp/sent" 2>/dev/null || echo 0)

# The consumer has printed everything once it stops growing at `sent`.
deadline=$(($(now_s) + 60))
while [ "$(wc -l <"$tmp/tail.out")" -lt "$sent" ] && [ "$(now_s)" -lt "$deadline" ]; do
  sleep 1
done
sleep 2
kill -TERM "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
tail_pid=""
consumed=$(wc -l <"$tmp/tail.out")
distinct=$(sort -u "$tmp/tail.out" | wc -l)
elapsed=$(($(now_s) - start))

echo "# put: $(tail -n 1 "$tmp/put.err")"
echo "# tail: $(tail -n 1 "$tmp/tail.err")"
echo "# $sent records offered, $consumed printed by tail ($distinct distinct), $((sent > 0 ? consumed * 1000 / sent : 0))/1000; mean $((sent / (elapsed > 0 ? elapsed : 1))) records/s over $elapsed s"

# The verdict, from the samples after the warm-up.
verdict="$(awk -v n="$samples" '
  { t[NR] = $1; prss[NR] = $2; pfd[NR] = $3; trss[NR] = $4; tfd[NR] = $5 }
  END {
    w = int(n / 4); if (w < 2) w = 2; if (w >= n) w = n - 1; if (w < 1) w = 1
    split("put tail", who, " ")
    bad = 0
    for (k = 1; k <= 2; k++) {
      minr = -1; minf = -1; maxf = 0
      for (i = w; i <= n; i++) {
        r = (k == 1 ? prss[i] : trss[i]); f = (k == 1 ? pfd[i] : tfd[i])
        if (minr < 0 || r < minr) minr = r
        if (minf < 0 || f < minf) minf = f
        if (f > maxf) maxf = f
      }
      last = (k == 1 ? prss[n] : trss[n])
      rflat = (last <= minr * 1.10 + 2048)
      fflat = (maxf - minf <= 4)
      printf "# %s: RSS %d KiB after warm-up (sample %d, %d s) -> %d KiB at the end (%+.1f%%): %s; fds %d..%d: %s\n", \
        who[k], minr, w, t[w], last, (minr > 0 ? (last - minr) * 100.0 / minr : 0), \
        (rflat ? "flat" : "GROWING"), minf, maxf, (fflat ? "flat" : "GROWING")
      if (!rflat || !fflat) bad = 1
    }
    print (bad ? "VERDICT GROWING" : "VERDICT FLAT")
  }' "$tmp/samples")"
printf '%s\n' "$verdict" | sed -e '$d'
status=0
if [ "$samples" -lt 3 ]; then
  echo "# verdict: too few samples ($samples) to judge"
  status=1
elif [ "$(printf '%s\n' "$verdict" | tail -n 1)" = "VERDICT FLAT" ]; then
  echo "# verdict: RSS and fds stayed flat"
else
  echo "# verdict: RSS or fds grew"
  status=1
fi
if [ "$early" -ne 0 ]; then
  echo "# a client exited before the end of the run"
  status=1
fi
if [ "$put_ok" -ne 1 ]; then
  echo "# put failed (exit status $put_status): $(tail -n 3 "$tmp/put.err")"
  status=1
fi
if [ "$distinct" -ne "$sent" ]; then
  echo "# LOSS: $sent records offered, $distinct distinct printed"
  status=1
fi
exit "$status"
