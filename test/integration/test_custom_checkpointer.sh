#!/usr/bin/env bash
# examples/custom_checkpointer against a Kinesis service (run under
# test/with-serve.sh KINESIS, or test/with-servers.sh): a consumer whose checkpoints live in a file
# (examples/file_checkpointer.c), run four times over one stream of 1,000
# records:
#
#   1. --exit-after 300: the file then holds, for each shard, the last
#      record printed;
#   2. --exit-after 400: carries on after those checkpoints, re-reading
#      nothing (a graceful close checkpoints everything acknowledged);
#   3. prints the other 300, and the file gets their checkpoints (the
#      consumer writes them every 5 s); then 200 more records are put, and
#      it is killed with SIGKILL once it has printed them;
#   4. SIGTERM once quiet: prints again exactly the records of run 3 past
#      the file's checkpoints (the 200, unless a checkpoint came between),
#      and nothing else.
#
# Together the runs print every record; the only duplicates are those of
# run 3 past its checkpoints.
#
#   test_custom_checkpointer.sh CUSTOM_CHECKPOINTER KINESIS
set -euo pipefail

prog="test_custom_checkpointer.sh"
example="$1"
kinesis="$2"
if [ -z "${KINESIS_TEST_ENDPOINT:-}" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "not ok - KINESIS_TEST_ENDPOINT is not set (CI=true)"
    exit 1
  fi
  echo "$prog: SKIP: run me under test/with-serve.sh KINESIS or test/with-servers.sh" >&2
  exit 77
fi
endpoint="$KINESIS_TEST_ENDPOINT"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY=test-secret-key AWS_EC2_METADATA_DISABLED=true
# Sequence numbers are compared as strings of digits, byte by byte.
export LC_ALL=C
stream="custom-ckpt-$$"
n=1000
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-custom-ckpt.XXXXXX")"
ckpt="$tmp/checkpoints"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  "$kinesis" --endpoint-url "$endpoint" delete-stream --stream "$stream" \
    >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "not ok - $1"
  shift
  for line in "$@"; do printf '%s\n' "$line" | sed -e 's/^/#   /'; done
  exit 1
}

ok() {
  echo "ok - $*"
}

# The data of records (field 3 of SHARD<TAB>SEQUENCE<TAB>DATA), sorted.
data_of() {
  cut -f3 "$@" | sort
}

# Each shard's last sequence number in the given outputs, in their order
# (a shard's records come in order): "SHARD SEQ" lines, sorted.
last_printed() {
  awk -F '\t' '{ last[$1] = $2 } END { for (s in last) print s, last[s] }' \
    "$@" | sort
}

# The checkpoints in the file: "SHARD SEQ" lines, sorted.
file_checkpoints() {
  awk -F '\t' -v st="$stream" 'NR > 1 && $1 == st { print $2, $3 }' "$ckpt" |
    sort
}

# past_checkpoints OUT: the lines of OUT past the file's checkpoint of their
# shard (numbers compared as digit strings: by length, then bytes).
past_checkpoints() {
  awk -F '\t' -v st="$stream" '
    NR == FNR { if (FNR > 1 && $1 == st) ck[$2] = $3; next }
    { c = ($1 in ck) ? ck[$1] : ""
      if (c == "" || length($2) > length(c) ||
          (length($2) == length(c) && ($2 "") > (c ""))) print }' "$ckpt" "$1"
}

# run NAME ARGS...: a run in the foreground, at most 60 s.
run() {
  local name="$1" rc=0
  shift
  timeout -s KILL 60 "$example" "$stream" "$ckpt" "$endpoint" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exits 0 (status $rc)" "$(tail -n 5 "$tmp/$name.err")"
}

# wait_lines NAME COUNT: waits up to 60 s for the background run NAME to
# print COUNT lines.
wait_lines() {
  local i
  for i in $(seq 600); do
    [ "$(wc -l <"$tmp/$1.out")" -ge "$2" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "$1 is still running" "$(tail -n 5 "$tmp/$1.err")"
    sleep 0.1
  done
  fail "$1 prints $2 records within 60 s (it printed $(wc -l <"$tmp/$1.out"))" \
    "$(tail -n 5 "$tmp/$1.err")"
}

"$kinesis" --endpoint-url "$endpoint" create-stream --stream "$stream" \
  --shards 2 --wait >/dev/null 2>"$tmp/create.err" ||
  fail "create-stream" "$(cat "$tmp/create.err")"
seq -f 'rec-%06g' 1 "$n" >"$tmp/all"
"$kinesis" --endpoint-url "$endpoint" put --stream "$stream" <"$tmp/all" \
  >/dev/null 2>"$tmp/put.err" || fail "put $n records" "$(cat "$tmp/put.err")"
ok "put $n records into a 2-shard stream"

# ---- 1. The first 300, then a graceful close.
run run1 --exit-after 300
[ "$(wc -l <"$tmp/run1.out")" -eq 300 ] ||
  fail "run 1 prints 300 records" "it printed $(wc -l <"$tmp/run1.out")"
[ "$(tail -n 1 "$tmp/run1.err")" = "custom_checkpointer: 300 records (--exit-after reached)" ] ||
  fail "run 1 ends with its summary" "$(tail -n 3 "$tmp/run1.err")"
[ -f "$ckpt" ] || fail "run 1 leaves a checkpoint file"
[ "$(head -n 1 "$ckpt")" = "# libkinesis file checkpointer 1" ] ||
  fail "the checkpoint file starts with its header" "$(head -n 3 "$ckpt")"
awk -F '\t' 'NR > 1 && (NF != 6 || $3 !~ /^[0-9]+$/ || $4 != 0 || $5 != 0 ||
  $6 != 0) { bad = 1 } END { exit bad }' "$ckpt" ||
  fail "every line of the file is a plain checkpoint" "$(cat "$ckpt")"
[ "$(file_checkpoints)" = "$(last_printed "$tmp/run1.out")" ] ||
  fail "the file holds each shard's last printed record" \
    "file: $(file_checkpoints | tr '\n' ';')" \
    "printed: $(last_printed "$tmp/run1.out" | tr '\n' ';')"
ok "run 1: 300 records; the file holds each shard's last one ($(file_checkpoints | wc -l) shards)"

# ---- 2. The next 400, from the checkpoints.
run run2 --exit-after 400
[ "$(wc -l <"$tmp/run2.out")" -eq 400 ] ||
  fail "run 2 prints 400 records" "it printed $(wc -l <"$tmp/run2.out")"
again="$(comm -12 <(data_of "$tmp/run1.out") <(data_of "$tmp/run2.out") | wc -l)"
[ "$again" -eq 0 ] ||
  fail "run 2 prints nothing that run 1 printed (acknowledged, so checkpointed)" \
    "$again records again: $(comm -12 <(data_of "$tmp/run1.out") <(data_of "$tmp/run2.out") | head -n 5 | tr '\n' ' ')"
[ "$(file_checkpoints)" = "$(last_printed "$tmp/run1.out" "$tmp/run2.out")" ] ||
  fail "after run 2 the file holds each shard's last printed record" \
    "file: $(file_checkpoints | tr '\n' ';')"
ok "run 2: 400 more records, none of run 1's again"

# ---- 3. The rest; a checkpoint; 200 more, then SIGKILL.
left=$((n - 700))
"$example" "$stream" "$ckpt" "$endpoint" >"$tmp/run3.out" 2>"$tmp/run3.err" &
pid=$!
wait_lines run3 "$left"
checkpointed() {
  [ "$(file_checkpoints)" = "$(last_printed "$tmp/run1.out" "$tmp/run2.out" "$tmp/run3.out")" ]
}
for _ in $(seq 150); do
  checkpointed && break
  sleep 0.1
done
checkpointed || fail "run 3 checkpoints what it printed within 15 s" \
  "file: $(file_checkpoints | tr '\n' ';')"
seq -f 'rec-%06g' $((n + 1)) $((n + 200)) >"$tmp/more"
"$kinesis" --endpoint-url "$endpoint" put --stream "$stream" <"$tmp/more" \
  >/dev/null 2>"$tmp/put.err" || fail "put 200 more records" "$(cat "$tmp/put.err")"
cat "$tmp/more" >>"$tmp/all"
wait_lines run3 $((left + 200))
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=""
[ "$(wc -l <"$tmp/run3.out")" -eq $((left + 200)) ] ||
  fail "run 3 prints the $((left + 200)) records left" "it printed $(wc -l <"$tmp/run3.out")"
past_checkpoints "$tmp/run3.out" >"$tmp/unconfirmed"
unconfirmed="$(wc -l <"$tmp/unconfirmed")"
[ -z "$(comm -12 <(data_of "$tmp/unconfirmed") <(head -n "$left" "$tmp/run3.out" | data_of))" ] ||
  fail "the records of run 3 checkpointed before the put stay checkpointed"
ok "run 3: $left records, a checkpoint, 200 more, then SIGKILL; $unconfirmed of them are past the file's checkpoints"

# ---- 4. Those again, and nothing else; SIGTERM closes it.
"$example" "$stream" "$ckpt" "$endpoint" >"$tmp/run4.out" 2>"$tmp/run4.err" &
pid=$!
wait_lines run4 "$unconfirmed"
sleep 3 # time for anything unexpected to show up
kill -TERM "$pid"
rc=0
for _ in $(seq 200); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "run 4 exits within 20 s of SIGTERM" "$(tail -n 5 "$tmp/run4.err")"
wait "$pid" || rc=$?
pid=""
[ "$rc" -eq 0 ] || fail "run 4 exits 0 at SIGTERM (status $rc)" "$(tail -n 5 "$tmp/run4.err")"
[ "$(tail -n 1 "$tmp/run4.err")" = "custom_checkpointer: $unconfirmed records (terminated)" ] ||
  fail "run 4 ends with its summary" "$(tail -n 3 "$tmp/run4.err")"
if ! diff <(data_of "$tmp/unconfirmed") <(data_of "$tmp/run4.out") >"$tmp/diff"; then
  fail "run 4 prints exactly run 3's records past the checkpoints" "$(head -n 10 "$tmp/diff")"
fi
[ "$(file_checkpoints)" = "$(last_printed "$tmp/run1.out" "$tmp/run2.out" "$tmp/run3.out")" ] ||
  fail "after run 4 the file holds each shard's last record" \
    "file: $(file_checkpoints | tr '\n' ';')"
ok "run 4: exactly the $unconfirmed records run 3 had not checkpointed, then a clean exit"

# ---- Together.
if ! diff <(sort "$tmp/all") <(data_of "$tmp/run1.out" "$tmp/run2.out" "$tmp/run3.out" | sort) \
  >"$tmp/diff"; then
  fail "runs 1 to 3 printed every record once" "$(head -n 10 "$tmp/diff")"
fi
ok "every record printed ($(wc -l <"$tmp/all")); duplicates: $unconfirmed, all of them past a checkpoint when the process died"
