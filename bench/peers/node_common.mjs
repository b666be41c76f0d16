// What node_producer.mjs and node_consumer.mjs share: the records (the same
// as kn_peer.c's and boto3_common.py's; see README.md, "The records"), the
// client, argument parsing and the RESULT line bench/compare.sh reads.

import http from 'node:http'
import { readFileSync } from 'node:fs'
import { KinesisClient } from '@aws-sdk/client-kinesis'
import { NodeHttpHandler } from '@smithy/node-http-handler'

export const NKEYS = 1000
export const MIN_SIZE = 8

// Record i's partition key: "pk-" + (uint32)(i * 2654435761) % 1000.
export function makeKeys () {
  const keys = new Array(NKEYS)
  for (let k = 0; k < NKEYS; k++) keys[k] = 'pk-' + k
  return keys
}

export function keyIndex (i) {
  return (Math.imul(i, 2654435761) >>> 0) % NKEYS
}

// Every record's bytes but its index: 'a' + k % 26 at offset k.
export function makeBase (size) {
  const base = Buffer.allocUnsafe(size)
  for (let k = 0; k < size; k++) base[k] = 0x61 + (k % 26)
  return base
}

// Record i: the base, with i as a little-endian 64-bit word over bytes 0-7.
export function makeRecord (base, i) {
  const d = Buffer.from(base)
  d.writeUInt32LE(i % 0x100000000, 0)
  d.writeUInt32LE(Math.floor(i / 0x100000000), 4)
  return d
}

export function recordIndex (d) {
  return d.readUInt32LE(0) + d.readUInt32LE(4) * 0x100000000
}

// STREAM RECORDS SIZE [--name value]...; `opts` holds the defaults.
export function parseArgs (prog, argv, opts) {
  const usage = () => {
    process.stderr.write(`usage: ${prog} STREAM RECORDS SIZE` +
      Object.keys(opts).map((k) => ` [--${k} N]`).join('') + '\n')
    process.exit(2)
  }
  if (argv.length < 3) usage()
  const [stream, n, size] = [argv[0], Number(argv[1]), Number(argv[2])]
  if (!stream || !(Number.isSafeInteger(n) && n > 0) ||
      !(Number.isSafeInteger(size) && size >= MIN_SIZE && size <= 1048576)) usage()
  for (let i = 3; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '')
    const v = Number(argv[i + 1])
    if (!(name in opts) || !(v > 0)) usage()
    opts[name] = v
  }
  const endpoint = process.env.KINESIS_TEST_ENDPOINT
  if (!endpoint) {
    process.stderr.write(`${prog}: KINESIS_TEST_ENDPOINT is not set\n`)
    process.exit(2)
  }
  return { stream, n, size, endpoint, opts }
}

// The AWS SDK v3 client over HTTP/1.1 with keep-alive (kinesalite does not
// speak HTTP/2), fixed dummy credentials, the SDK's default retries.
export function makeClient (endpoint, maxSockets) {
  const agent = new http.Agent({ keepAlive: true, maxSockets })
  const client = new KinesisClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret-key' },
    requestHandler: new NodeHttpHandler({ httpAgent: agent })
  })
  return { client, agent }
}

export function sdkVersion () {
  const p = new URL('./node_modules/@aws-sdk/client-kinesis/package.json', import.meta.url)
  return JSON.parse(readFileSync(p, 'utf8')).version
}

// The measured phase: wall time and this process's CPU time, every thread
// (process.cpuUsage() is getrusage(RUSAGE_SELF)).
export function phaseStart () {
  return { t0: process.hrtime.bigint(), cpu0: process.cpuUsage() }
}

export function phaseEnd (ph) {
  const cpu = process.cpuUsage(ph.cpu0)
  return {
    wall: Number(process.hrtime.bigint() - ph.t0) / 1e9,
    user: cpu.user / 1e6,
    sys: cpu.system / 1e6
  }
}

export function printResult (r) {
  process.stdout.write(`RESULT records=${r.n} ok=${r.ok} failed=${r.failed} ` +
    `duplicates=${r.duplicates} corrupt=${r.corrupt} wall_s=${r.wall.toFixed(6)} ` +
    `user_s=${r.user.toFixed(6)} sys_s=${r.sys.toFixed(6)} requests=${r.requests}\n`)
}
