// The AWS SDK for JavaScript v3 as a consumer in bench/compare.sh:
//
//   node node_consumer.mjs STREAM RECORDS SIZE [--limit N]
//
// Lists the shards, then reads every shard at once, each in its own loop:
// GetShardIterator (TRIM_HORIZON), then GetRecords (Limit --limit, default
// 10000) until an answer is empty (the stream was filled before: the shard
// is read) or every record has come. Each record's length, index and bytes
// are checked (node_common.mjs). Prints the RESULT line over the phase from
// ListShards to the last record; exits 1 when a record is missing, came
// twice or is corrupt.

import {
  GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand
} from '@aws-sdk/client-kinesis'
import {
  MIN_SIZE, makeBase, makeClient, parseArgs, phaseEnd, phaseStart,
  printResult, recordIndex
} from './node_common.mjs'

const { stream, n, size, endpoint, opts } =
  parseArgs('node_consumer.mjs', process.argv.slice(2), { limit: 10000 })
const base = makeBase(size)
// One socket per shard: ListShards tells how many; 64 is plenty here.
const { client, agent } = makeClient(endpoint, 64)

const seen = new Uint8Array(n)
let ok = 0
let duplicates = 0
let corrupt = 0
let requests = 0
let done = null // the phase's end, once every record has come

function check (data) {
  const d = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (d.length === size && d.compare(base, MIN_SIZE, size, MIN_SIZE, size) === 0) {
    const i = recordIndex(d)
    if (i < n) {
      if (seen[i] !== 0) {
        duplicates++
      } else {
        seen[i] = 1
        ok++
      }
      return
    }
  }
  if (corrupt++ < 10) process.stderr.write(`node_consumer.mjs: corrupt record of ${d.length} bytes\n`)
}

async function readShard (shardId) {
  const it = await client.send(new GetShardIteratorCommand({
    StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON'
  }))
  let iterator = it.ShardIterator
  while (iterator && done === null) {
    const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: opts.limit }))
    requests++
    for (const rec of out.Records) check(rec.Data)
    if (ok === n && done === null) done = phaseEnd(ph)
    if (out.Records.length === 0) return
    iterator = out.NextShardIterator
  }
}

const ph = phaseStart()
const shards = []
let token
do {
  const out = await client.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }))
  for (const s of out.Shards) shards.push(s.ShardId)
  token = out.NextToken
} while (token)
await Promise.all(shards.map(readShard))
const t = done !== null ? done : phaseEnd(ph)

printResult({ n, ok, failed: n - ok, duplicates, corrupt, requests, ...t })
if (ok !== n) process.stderr.write(`node_consumer.mjs: ${n - ok} of ${n} records never came\n`)
client.destroy()
agent.destroy()
process.exitCode = ok === n && duplicates === 0 && corrupt === 0 ? 0 : 1
