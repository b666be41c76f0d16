// The AWS SDK for JavaScript v3 as a producer in bench/compare.sh:
//
//   node node_producer.mjs STREAM RECORDS SIZE [--in-flight N]
//
// Puts records 0 to RECORDS-1 (node_common.mjs) with PutRecords, 500
// records or 5 MiB (data and keys) per request, --in-flight requests at once
// (default 4). Records that an answer fails (ErrorCode) go into a later
// request, up to 10 attempts each, as libkinesis's producer does; a request
// that fails whole after the SDK's own retries counts as an attempt for each
// of its records. Prints the RESULT line over the phase from the first
// request to the last answer; exits 1 when a record failed.

import { PutRecordsCommand } from '@aws-sdk/client-kinesis'
import {
  keyIndex, makeBase, makeClient, makeKeys, makeRecord, parseArgs,
  phaseEnd, phaseStart, printResult
} from './node_common.mjs'

const MAX_BATCH = 500
const MAX_BATCH_BYTES = 5 * 1024 * 1024
const MAX_ATTEMPTS = 10

const { stream, n, size, endpoint, opts } =
  parseArgs('node_producer.mjs', process.argv.slice(2), { 'in-flight': 4 })
const inFlight = opts['in-flight']
const base = makeBase(size)
const keys = makeKeys()
const { client, agent } = makeClient(endpoint, inFlight)

let next = 0 // records not yet sent once: next to n-1
const retry = [] // indices to send again
const attempts = new Uint8Array(n)
let ok = 0
let failed = 0
let requests = 0
let firstError = null

function takeBatch () {
  const records = []
  const index = []
  let bytes = 0
  while (records.length < MAX_BATCH) {
    const i = retry.length > 0 ? retry[retry.length - 1] : (next < n ? next : -1)
    if (i < 0) break
    const key = keys[keyIndex(i)]
    if (bytes + size + key.length > MAX_BATCH_BYTES && records.length > 0) break
    if (retry.length > 0) retry.pop(); else next++
    records.push({ Data: makeRecord(base, i), PartitionKey: key })
    index.push(i)
    bytes += size + key.length
  }
  return { records, index }
}

function settle (i, errorCode) {
  if (!errorCode) {
    ok++
  } else if (++attempts[i] >= MAX_ATTEMPTS) {
    failed++
    if (firstError === null) firstError = errorCode
  } else {
    retry.push(i)
  }
}

async function sender () {
  for (;;) {
    const { records, index } = takeBatch()
    if (records.length === 0) return
    let out
    try {
      out = await client.send(new PutRecordsCommand({ StreamName: stream, Records: records }))
    } catch (err) {
      out = null
      if (firstError === null) firstError = err.name + ': ' + err.message
    }
    requests++
    for (let j = 0; j < index.length; j++) {
      settle(index[j], out ? out.Records[j].ErrorCode : 'RequestFailed')
    }
  }
}

const ph = phaseStart()
while (next < n || retry.length > 0) {
  // Senders stop when nothing is left to take; records failed by the last
  // answers start another round.
  await Promise.all(Array.from({ length: inFlight }, sender))
}
const t = phaseEnd(ph)

printResult({ n, ok, failed, duplicates: 0, corrupt: 0, requests, ...t })
if (firstError !== null) process.stderr.write(`node_producer.mjs: ${failed} failed; first error: ${firstError}\n`)
client.destroy()
agent.destroy()
process.exitCode = ok === n && failed === 0 ? 0 : 1
