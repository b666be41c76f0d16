#!/usr/bin/env bash
# A short demonstration of the kinesis CLI against a local kinesalite:
# create a stream with 2 shards, describe it, put 1000 records and read them
# back with tail, delete it; then the demo program (examples/demo.c), a
# producer and a consumer on one loop.
# Runs scripts/setup.sh, builds into build/, starts the test servers
# (test/with-servers.sh, stopped on exit) and runs the CLI against them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ -z "${KN_DEMO_INNER:-}" ]; then
  echo "==> setup (scripts/setup.sh)"
  scripts/setup.sh
  echo "==> build (build/)"
  if [ ! -f build/meson-private/coredata.dat ]; then
    meson setup build
  fi
  meson compile -C build
  echo "==> starting kinesalite (test/with-servers.sh)"
  KN_DEMO_INNER=1 exec test/with-servers.sh "$root/scripts/demo.sh" "$@"
fi

# Inside test/with-servers.sh: the servers run and KINESIS_TEST_* are set.
endpoint="$KINESIS_TEST_ENDPOINT"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDDEMO00000000000
export AWS_SECRET_ACCESS_KEY=demo-secret-key
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS

kinesis() {
  "$root/build/tools/kinesis" --endpoint-url "$endpoint" "$@"
}

stream="demo-$$"
echo "==> kinesalite at $endpoint"
echo "==> create-stream --stream $stream --shards 2 --wait"
kinesis create-stream --stream "$stream" --shards 2 --wait
echo "==> describe-stream --stream $stream"
kinesis describe-stream --stream "$stream"
echo "==> seq 1 1000 | put --stream $stream --stats"
seq 1 1000 | kinesis put --stream "$stream" --stats
echo "==> tail --stream $stream --count 1000 --format raw | sort -n | tail -n 3"
kinesis tail --stream "$stream" --count 1000 --format raw | sort -n | tail -n 3
echo "==> delete-stream --stream $stream"
kinesis delete-stream --stream "$stream"
echo "==> build/examples/demo $endpoint demo-stream-$$"
"$root/build/examples/demo" "$endpoint" "demo-stream-$$"
echo "==> done"
