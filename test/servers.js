#!/usr/bin/env node
'use strict'

// Test servers for the libkinesis integration tests, all in one process,
// each on a loopback port the OS picks:
//
//   kinesalite over HTTP, kinesalite over HTTPS (certificate given by the
//   caller), a fault-injecting Kinesis proxy in front of the HTTP kinesalite,
//   dynalite (an in-memory DynamoDB, for the DynamoDB checkpointer), fake
//   EC2 instance metadata (IMDSv2) / container credential endpoints, a fake
//   STS and a fake SSO portal; and kinesis-mock when asked.
//
// Usage: node servers.js --cert FILE --key FILE --ca FILE [--export-file FILE]
//                        [--max-lifetime SECONDS] [--ignore-stdin]
//
// When every server listens, it writes `export NAME='value'` lines to
// --export-file (atomically: a temporary file renamed into place), or to stdout
// when no file is given. It exits when stdin reaches end of file (unless
// --ignore-stdin), on SIGTERM/SIGINT/SIGHUP, and after --max-lifetime seconds
// (default and maximum 1800) so that nothing is left running.
//
// The fault server also takes, on /__control/, a seeded random "chaos" mode
// for PutRecords (throttling, 5xx, partial failures, answers cut after the
// write, stalls) and a switch that takes the plain HTTP kinesalite down for
// a while and brings it back with its data (an outage of the service).
//
// Each server's URL is exported as one of:
//
//   KINESIS_TEST_ENDPOINT                 kinesalite over HTTP
//   KINESIS_TEST_TLS_ENDPOINT             kinesalite over HTTPS, as
//                                         https://localhost:PORT
//   KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT  the same, as https://127.0.0.1:PORT
//   KINESIS_TEST_CA_FILE                  the CA of its certificate
//   KINESIS_TEST_FAULT_ENDPOINT           the fault server
//   KINESIS_TEST_DYNAMODB_ENDPOINT        dynalite over HTTP
//   KINESIS_TEST_METADATA_URL             IMDSv2 and container credentials
//   KINESIS_TEST_STS_URL                  the STS fake
//   KINESIS_TEST_SSO_URL                  the SSO portal fake
//   KINESIS_TEST_MOCK_ENDPOINT            kinesis-mock over HTTP and HTTPS,
//   KINESIS_TEST_MOCK_TLS_ENDPOINT        only with KINESIS_TEST_WITH_MOCK=1
//
// The dependencies are kinesalite and dynalite (and kinesis-local for
// kinesis-mock), pinned by test/package-lock.json; the rest is node's
// standard library. See test/fault.h for how the tests drive the fault
// server.

const fs = require('fs')
const http = require('http')
const https = require('https')
const path = require('path')
const net = require('net')
const childProcess = require('child_process')

const MAX_LIFETIME_S = 1800
const JSON_TYPE = 'application/x-amz-json-1.1'
const TARGET_PREFIX = 'Kinesis_20131202.'

function parseArgs (argv) {
  const opts = { maxLifetime: MAX_LIFETIME_S, ignoreStdin: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) fail('missing value after ' + a)
      return argv[++i]
    }
    if (a === '--cert') opts.cert = next()
    else if (a === '--key') opts.key = next()
    else if (a === '--ca') opts.ca = next()
    else if (a === '--export-file') opts.envFile = next()
    else if (a === '--max-lifetime') opts.maxLifetime = Number(next())
    else if (a === '--ignore-stdin') opts.ignoreStdin = true
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node servers.js --cert FILE --key FILE --ca FILE ' +
        '[--export-file FILE] [--max-lifetime SECONDS] [--ignore-stdin]\n')
      process.exit(0)
    } else fail('unknown argument: ' + a)
  }
  opts.cert = opts.cert || process.env.KINESIS_TEST_SERVER_CERT
  opts.key = opts.key || process.env.KINESIS_TEST_SERVER_KEY
  opts.ca = opts.ca || process.env.KINESIS_TEST_CA_FILE
  if (!opts.cert || !opts.key || !opts.ca) fail('--cert, --key and --ca are required')
  if (!(opts.maxLifetime > 0) || opts.maxLifetime > MAX_LIFETIME_S) opts.maxLifetime = MAX_LIFETIME_S
  return opts
}

function fail (msg) {
  process.stderr.write('servers.js: ' + msg + '\n')
  process.exit(2)
}

function log (msg) {
  process.stderr.write('servers.js: ' + msg + '\n')
}

function readBody (req, cb) {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => cb(null, Buffer.concat(chunks)))
  req.on('error', (err) => cb(err))
}

function sendJson (res, status, obj, extraHeaders) {
  const body = JSON.stringify(obj)
  res.writeHead(status, Object.assign({
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body)
  }, extraHeaders || {}))
  res.end(body)
}

function sendText (res, status, text, extraHeaders) {
  res.writeHead(status, Object.assign({
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(text)
  }, extraHeaders || {}))
  res.end(text)
}

// Listens on 127.0.0.1 with an OS-chosen port. With `alsoIpv6`, also listens
// on [::1] with the same port, so that "localhost" reaches this server
// whichever address a client tries first; if that port is taken on ::1, both
// are closed and another port is tried (so no other process can answer on
// [::1]:port). Hosts without IPv6 loopback get 127.0.0.1 only.
function listenLoopback (makeServer, alsoIpv6, cb) {
  let attempts = 0
  function attempt () {
    attempts++
    const v4 = makeServer()
    v4.once('error', cb)
    v4.listen(0, '127.0.0.1', () => {
      v4.removeListener('error', cb)
      const port = v4.address().port
      if (!alsoIpv6) return cb(null, port, [v4])
      const v6 = makeServer()
      v6.once('error', (err) => {
        if (err.code === 'EADDRINUSE' && attempts < 20) {
          v4.close()
          return attempt()
        }
        if (err.code === 'EADDRINUSE') return cb(err)
        // No IPv6 loopback here: 127.0.0.1 alone is enough.
        cb(null, port, [v4])
      })
      v6.listen(port, '::1', () => cb(null, port, [v4, v6]))
    })
  }
  attempt()
}

function keepAlive (server) {
  // Longer than any client's idle timeout, so a reused connection is never
  // closed under a client's feet unless a test asks for it.
  server.keepAliveTimeout = 120000
  server.headersTimeout = 125000
  return server
}

// ---------------------------------------------------------------- kinesalite

// shardLimit counts the open shards of every stream of this kinesalite:
// test_scale_tail.sh and bench_idle open 1,000. updateStreamMs is how long
// a SplitShard or MergeShards keeps the stream UPDATING, and so the least
// time between two of them: they make 500 splits in a row.
function kinesaliteOptions () {
  return { createStreamMs: 100, deleteStreamMs: 100, updateStreamMs: 10, shardLimit: 2000 }
}

// The plain HTTP kinesalite, behind a controller that can take it down and
// bring it back (POST /__control/kinesalite on the fault server). kinesalite
// runs in this process: kinesalite(options) returns an http.Server whose
// 'request' handler holds the in-memory store. That server never listens
// (its close() would close the store, and its listen() after a close would
// start a new, empty one); our own http.Server on the port hands every
// request to it. Closing our listener and destroying its connections is
// therefore an outage of the service whose data survives, as when AWS has a
// regional incident: clients get connection refused (or a reset in the
// middle of a request), and after the restart every record stored before is
// still there, on the same port.
function startKinesalite (kinesalite, cb) {
  const store = kinesalite(kinesaliteOptions())
  const handler = (req, res) => store.emit('request', req, res)
  const sockets = new Set()
  const ctl = { port: 0, server: null, up: false, outages: 0, reopenTimer: null, downSince: 0 }

  function makeServer () {
    const server = keepAlive(http.createServer(handler))
    server.on('connection', (sock) => {
      sockets.add(sock)
      sock.on('close', () => sockets.delete(sock))
    })
    return server
  }

  // Stops accepting and cuts every open connection, then reopens after `ms`
  // (never, when `ms` is undefined, until up() is called). cb(err) runs
  // once the listener is closed, so that a connection refused is
  // guaranteed from then on.
  ctl.down = (ms, done) => {
    if (!ctl.up) return done(new Error('kinesalite is already down'))
    ctl.up = false
    ctl.outages++
    ctl.downSince = Date.now()
    const server = ctl.server
    server.close()
    for (const sock of sockets) sock.destroy()
    sockets.clear()
    if (ms !== undefined) ctl.reopenTimer = setTimeout(() => ctl.reopen(() => {}), ms)
    // close() stops listening synchronously; its callback waits for the
    // connections, which were just destroyed.
    done(null)
  }

  // Listens again on the same port; retried for a while if someone else
  // took the port meanwhile (unlikely on loopback with an ephemeral port).
  ctl.reopen = (done) => {
    if (ctl.reopenTimer) clearTimeout(ctl.reopenTimer)
    ctl.reopenTimer = null
    if (ctl.up) return done(null)
    let tries = 0
    const attempt = () => {
      const server = makeServer()
      server.once('error', (err) => {
        if (++tries < 50) return setTimeout(attempt, 100)
        log('kinesalite cannot listen again on port ' + ctl.port + ': ' + err.message)
        done(err)
      })
      server.listen(ctl.port, '127.0.0.1', () => {
        ctl.server = server
        ctl.up = true
        log('kinesalite back on port ' + ctl.port + ' after ' + (Date.now() - ctl.downSince) + ' ms')
        done(null)
      })
    }
    attempt()
  }

  ctl.state = () => ({ up: ctl.up, port: ctl.port, outages: ctl.outages })

  listenLoopback(makeServer, false, (err, port, servers) => {
    if (err) return cb(err)
    ctl.port = port
    ctl.server = servers[0]
    ctl.up = true
    cb(null, port, servers, ctl)
  })
}

function startKinesaliteTls (kinesalite, opts, cb) {
  const tls = {
    key: fs.readFileSync(opts.key),
    cert: fs.readFileSync(opts.cert),
    ca: fs.readFileSync(opts.ca)
  }
  // kinesalite's own `ssl` option would build the same https server; building
  // it here lets the 127.0.0.1 and [::1] listeners share one kinesalite store
  // (an instance of its own, separate from the plain HTTP one).
  const store = kinesalite(kinesaliteOptions())
  const handler = (req, res) => store.emit('request', req, res)
  listenLoopback(() => keepAlive(https.createServer(tls, handler)), true, cb)
}

// ------------------------------------------------------------------ dynalite

// dynalite (npm dynalite, by kinesalite's author): DynamoDB in memory, for
// the DynamoDB checkpointer's tests, which also write KCL-shaped lease rows
// with the AWS SDK's DynamoDB client. As with kinesalite, dynalite(options)
// returns an http.Server holding the store; that server never listens, and
// our own listener hands it every request (so that a fault proxy or an
// outage switch can later be put in front of it as for kinesalite).
// CreateTable still answers CREATING, as AWS does, but the table is ACTIVE
// at the next DescribeTable (and a deleted one gone): a test waits for
// ACTIVE as against AWS, without sleeping. dynalite checks only the shape
// of the Authorization header (AWS4-..., Credential=, SignedHeaders= and
// Signature= present, and an X-Amz-Date or Date header), never the
// signature, the credential scope or a session token.
function startDynalite (dynalite, cb) {
  const store = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  const handler = (req, res) => store.emit('request', req, res)
  listenLoopback(() => keepAlive(http.createServer(handler)), false, cb)
}

// -------------------------------------------------------------- fault server

// A small seeded generator (mulberry32), so that a chaos run can be
// replayed: the same seed and the same sequence of requests give the same
// faults.
function makeRng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const CHAOS_KINDS = ['throttle', 'error_5xx', 'partial', 'drop_after_write', 'stall']

function makeFaultServer (upstreamPort, kinesaliteCtl) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  let queue = []
  let requestLog = []
  let counter = 0
  // Seeded random faults (POST /__control/chaos), applied to requests of
  // `chaos.target` that no scripted action claimed.
  let chaos = null

  function validAction (a) {
    return a !== null && typeof a === 'object' && !Array.isArray(a) &&
      (a.target === undefined || typeof a.target === 'string') &&
      (a.times === undefined || (Number.isInteger(a.times) && a.times >= 1)) &&
      (a.delay_ms === undefined || (typeof a.delay_ms === 'number' && a.delay_ms >= 0)) &&
      (a.close_after_ms === undefined || (typeof a.close_after_ms === 'number' && a.close_after_ms >= 0))
  }

  // put_records_fail only makes sense for PutRecords.
  function actionTarget (a) {
    if (a.target !== undefined) return a.target
    if (a.put_records_fail !== undefined) return 'PutRecords'
    return undefined
  }

  function takeAction (target) {
    for (let i = 0; i < queue.length; i++) {
      const a = queue[i]
      const t = actionTarget(a)
      if (t !== undefined && t !== target) continue
      a.remaining = (a.remaining === undefined ? (a.times || 1) : a.remaining) - 1
      if (a.remaining <= 0) queue.splice(i, 1)
      return a
    }
    return null
  }

  function kind (a) {
    if (a === null) return 'proxy'
    if (a.drop) return 'drop'
    if (a.drop_mid_response) return 'drop_mid_response'
    if (a.drop_after_write) return 'drop_after_write'
    if (a.put_records_fail !== undefined) return 'put_records_fail'
    if (a.status !== undefined) return 'status'
    return 'proxy'
  }

  // Forwards a request to kinesalite; cb(err, status, headers, bodyBuffer).
  function forward (req, body, done) {
    let called = false
    const cb = (...args) => {
      if (called) return
      called = true
      done(...args)
    }
    const headers = {}
    for (const [k, v] of Object.entries(req.headers)) {
      if (k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding' ||
          k === 'content-length' || k === 'expect') continue
      headers[k] = v
    }
    headers['content-length'] = body.length
    const up = http.request({
      host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent
    }, (upRes) => {
      readBody(upRes, (err, upBody) => {
        if (err) return cb(err)
        cb(null, upRes.statusCode, upRes.headers, upBody)
      })
    })
    up.on('error', cb)
    up.end(body)
  }

  function relay (res, entry, err, status, headers, body) {
    if (err) {
      entry.status = 502
      return sendJson(res, 502, { __type: 'FaultServerProxyError', message: String(err.message) },
        { 'Content-Type': JSON_TYPE })
    }
    const out = {}
    for (const [k, v] of Object.entries(headers)) {
      if (k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding' ||
          k === 'content-length') continue
      out[k] = v
    }
    out['content-length'] = body.length
    entry.status = status
    res.writeHead(status, out)
    res.end(body)
  }

  function doPutRecordsFail (req, res, body, a, entry) {
    let parsed
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch (e) {
      parsed = null
    }
    if (parsed === null || typeof parsed !== 'object' || !Array.isArray(parsed.Records)) {
      // Not something we can rewrite (CBOR, invalid JSON): plain proxy.
      entry.action = 'proxy'
      return forward(req, body, (err, s, h, b) => relay(res, entry, err, s, h, b))
    }
    const n = parsed.Records.length
    const failed = new Set()
    if (a.put_records_fail === 'all') {
      for (let i = 0; i < n; i++) failed.add(i)
    } else if (Array.isArray(a.put_records_fail)) {
      for (const i of a.put_records_fail) if (Number.isInteger(i) && i >= 0 && i < n) failed.add(i)
    }
    const errorCode = a.error_code || 'ProvisionedThroughputExceededException'
    const errorMessage = a.error_message || 'Rate exceeded for shard'
    const keptIdx = []
    for (let i = 0; i < n; i++) if (!failed.has(i)) keptIdx.push(i)

    function build (okResults, headers) {
      const records = []
      let k = 0
      for (let i = 0; i < n; i++) {
        if (failed.has(i)) records.push({ ErrorCode: errorCode, ErrorMessage: errorMessage })
        else records.push(okResults[k++])
      }
      const out = JSON.stringify({ FailedRecordCount: failed.size, Records: records })
      const h = { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(out) }
      h['x-amzn-RequestId'] = (headers && headers['x-amzn-requestid']) || ('fault-' + entry.n)
      entry.status = 200
      res.writeHead(200, h)
      res.end(out)
    }

    if (keptIdx.length === 0) return build([], null)
    const sub = Object.assign({}, parsed, { Records: keptIdx.map((i) => parsed.Records[i]) })
    forward(req, Buffer.from(JSON.stringify(sub), 'utf8'), (err, status, headers, upBody) => {
      if (err || status !== 200) return relay(res, entry, err, status, headers, upBody)
      let result
      try {
        result = JSON.parse(upBody.toString('utf8'))
      } catch (e) {
        result = null
      }
      if (result === null || !Array.isArray(result.Records) || result.Records.length !== keptIdx.length) {
        return relay(res, entry, null, status, headers, upBody)
      }
      build(result.Records, headers)
    })
  }

  function newChaos (c) {
    const cfg = {
      seed: Number.isInteger(c.seed) ? c.seed : 1,
      target: typeof c.target === 'string' ? c.target : 'PutRecords',
      stall_ms: typeof c.stall_ms === 'number' && c.stall_ms >= 0 ? c.stall_ms : 2000,
      partial_record_rate: typeof c.partial_record_rate === 'number' ? c.partial_record_rate : 0.3
    }
    for (const k of CHAOS_KINDS) cfg[k] = typeof c[k] === 'number' ? c[k] : 0
    const counts = { requests: 0, proxy: 0, partial_records_failed: 0, drop_records_stored: 0 }
    for (const k of CHAOS_KINDS) counts[k] = 0
    return { cfg, counts, rng: makeRng(cfg.seed), dropped_data: [] }
  }

  function validChaos (c) {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return false
    let sum = 0
    for (const k of CHAOS_KINDS) {
      if (c[k] === undefined) continue
      if (typeof c[k] !== 'number' || c[k] < 0 || c[k] > 1) return false
      sum += c[k]
    }
    if (c.partial_record_rate !== undefined &&
        (typeof c.partial_record_rate !== 'number' || c.partial_record_rate <= 0 ||
         c.partial_record_rate > 1)) return false
    return sum <= 1 + 1e-9
  }

  function recordCount (body) {
    try {
      const parsed = JSON.parse(body.toString('utf8'))
      return parsed && Array.isArray(parsed.Records) ? parsed.Records.length : 0
    } catch (e) {
      return 0
    }
  }

  // Draws this request's fate, as an action of the scripting language (so
  // that perform() does the work), or null to proxy it untouched.
  function chaosAction (body) {
    const c = chaos
    const cfg = c.cfg
    c.counts.requests++
    let x = c.rng()
    let pick = null
    for (const k of CHAOS_KINDS) {
      if (x < cfg[k]) {
        pick = k
        break
      }
      x -= cfg[k]
    }
    if (pick === null) {
      c.counts.proxy++
      return null
    }
    c.counts[pick]++
    if (pick === 'throttle') {
      return {
        chaos: pick,
        status: 400,
        body: {
          __type: 'ProvisionedThroughputExceededException',
          message: 'Rate exceeded for shard shardId-000000000000 in stream chaos under account 000000000000.'
        }
      }
    }
    if (pick === 'error_5xx') {
      return c.rng() < 0.5
        ? { chaos: pick, status: 500, body: { __type: 'InternalFailure', message: 'injected internal failure' } }
        : { chaos: pick, status: 503, body: { __type: 'ServiceUnavailable', message: 'injected service unavailable' } }
    }
    if (pick === 'partial') {
      const n = recordCount(body)
      const failed = []
      for (let i = 0; i < n; i++) if (c.rng() < cfg.partial_record_rate) failed.push(i)
      if (n > 0 && failed.length === 0) failed.push(Math.floor(c.rng() * n))
      c.counts.partial_records_failed += failed.length
      return {
        chaos: pick,
        put_records_fail: failed,
        error_code: c.rng() < 0.5 ? 'ProvisionedThroughputExceededException' : 'InternalFailure',
        error_message: 'injected partial failure'
      }
    }
    if (pick === 'drop_after_write') return { chaos: pick, drop_after_write: true }
    return { chaos: pick, delay_ms: cfg.stall_ms, proxy: true }
  }

  // The data, as UTF-8 text, of the records a PutRecords body carries.
  function recordTexts (body) {
    try {
      const parsed = JSON.parse(body.toString('utf8'))
      if (!parsed || !Array.isArray(parsed.Records)) return []
      return parsed.Records.map((r) => Buffer.from(String(r.Data || ''), 'base64').toString('utf8'))
    } catch (e) {
      return []
    }
  }

  // The request is proxied and kinesalite answers (and, for a PutRecords,
  // stores the records); the client gets the status line, the headers and
  // half the body, then the connection is cut. A client that retries such
  // a request writes its records twice.
  function dropAfterWrite (req, res, body, a, entry) {
    forward(req, body, (err, status, headers, upBody) => {
      if (err) return relay(res, entry, err, status, headers, upBody)
      entry.status = status
      if (status === 200 && entry.target === 'PutRecords') {
        const texts = recordTexts(body)
        if (a.chaos !== undefined && chaos !== null) {
          chaos.counts.drop_records_stored += texts.length
          for (const t of texts) {
            if (chaos.dropped_data.length < 200000) chaos.dropped_data.push(t)
          }
        }
      }
      res.writeHead(status, {
        'Content-Type': JSON_TYPE,
        'Content-Length': upBody.length,
        'x-amzn-RequestId': (headers && headers['x-amzn-requestid']) || ('fault-' + entry.n)
      })
      const half = upBody.subarray(0, Math.max(1, Math.floor(upBody.length / 2)))
      res.write(half, () => req.socket.destroy())
    })
  }

  function perform (req, res, body, a, entry) {
    const k = entry.action
    if (k === 'drop') {
      entry.status = 0
      req.socket.destroy()
      return
    }
    if (k === 'drop_mid_response') {
      entry.status = 200
      res.writeHead(200, {
        'Content-Type': JSON_TYPE,
        'Content-Length': 1000,
        'x-amzn-RequestId': 'fault-' + entry.n
      })
      res.write('{"Records"', () => req.socket.destroy())
      return
    }
    if (k === 'status') {
      let payload = a.body === undefined ? '' : a.body
      if (typeof payload !== 'string') payload = JSON.stringify(payload)
      const given = a.headers || {}
      const lower = Object.keys(given).map((h) => h.toLowerCase())
      const h = {}
      if (!lower.includes('content-type')) h['Content-Type'] = JSON_TYPE
      if (!lower.includes('x-amzn-requestid')) h['x-amzn-RequestId'] = 'fault-' + entry.n
      Object.assign(h, given)
      h['Content-Length'] = Buffer.byteLength(payload)
      entry.status = a.status
      res.writeHead(a.status, h)
      res.end(payload)
      return
    }
    if (k === 'put_records_fail') return doPutRecordsFail(req, res, body, a, entry)
    if (k === 'drop_after_write') return dropAfterWrite(req, res, body, a, entry)
    forward(req, body, (err, s, h, b) => relay(res, entry, err, s, h, b))
  }

  function handleKinesis (req, res, body) {
    const targetHeader = req.headers['x-amz-target'] || ''
    const target = targetHeader.startsWith(TARGET_PREFIX) ? targetHeader.slice(TARGET_PREFIX.length) : ''
    const isKinesis = req.method === 'POST' && target !== ''
    let a = isKinesis ? takeAction(target) : null
    if (a === null && isKinesis && chaos !== null && target === chaos.cfg.target) a = chaosAction(body)
    counter++
    const entry = {
      target: target || targetHeader,
      action: kind(a),
      status: 0,
      headers: Object.assign({}, req.headers),
      body: body.toString('utf8'),
      n: counter,
      received_ms: Date.now(),
      delay_ms: (a && a.delay_ms) || 0
    }
    if (a && a.chaos !== undefined) entry.chaos = a.chaos
    requestLog.push(entry)
    if (a && a.close_after_ms !== undefined) {
      // The connection is closed this long after the answer, without a
      // word: a keep-alive connection dropped while the client has it idle.
      res.on('finish', () => setTimeout(() => req.socket.destroy(), a.close_after_ms))
    }
    if (a && a.delay_ms > 0) {
      setTimeout(() => {
        if (!req.socket.destroyed) perform(req, res, body, a, entry)
      }, a.delay_ms)
    } else {
      perform(req, res, body, a, entry)
    }
  }

  function handleControl (req, res, body) {
    const p = req.url.split('?')[0]
    if (p === '/__control/script' && req.method === 'POST') {
      let actions
      try {
        actions = JSON.parse(body.toString('utf8'))
      } catch (e) {
        return sendJson(res, 400, { error: 'body is not JSON: ' + e.message })
      }
      if (!Array.isArray(actions)) actions = [actions]
      for (const a of actions) {
        if (!validAction(a)) return sendJson(res, 400, { error: 'invalid action: ' + JSON.stringify(a) })
      }
      for (const a of actions) queue.push(Object.assign({}, a))
      return sendJson(res, 200, { queued: actions.length, pending: queue.length })
    }
    if (p === '/__control/script' && req.method === 'GET') {
      return sendJson(res, 200, queue)
    }
    if (p === '/__control/reset' && req.method === 'POST') {
      queue = []
      requestLog = []
      chaos = null
      return sendJson(res, 200, { reset: true })
    }
    if (p === '/__control/chaos' && req.method === 'POST') {
      let c
      try {
        c = body.length ? JSON.parse(body.toString('utf8')) : {}
      } catch (e) {
        return sendJson(res, 400, { error: 'body is not JSON: ' + e.message })
      }
      if (c !== null && typeof c === 'object' && c.off === true) {
        const last = chaos === null ? null : { config: chaos.cfg, counts: chaos.counts }
        chaos = null
        return sendJson(res, 200, { off: true, last })
      }
      if (!validChaos(c)) {
        return sendJson(res, 400, { error: 'invalid chaos (probabilities in [0, 1], summing to at most 1): ' + JSON.stringify(c) })
      }
      chaos = newChaos(c)
      return sendJson(res, 200, { config: chaos.cfg })
    }
    if (p === '/__control/chaos' && req.method === 'GET') {
      if (chaos === null) return sendJson(res, 200, { off: true })
      return sendJson(res, 200, { config: chaos.cfg, counts: chaos.counts, dropped_data: chaos.dropped_data })
    }
    if (p === '/__control/kinesalite' && req.method === 'GET') {
      return sendJson(res, 200, kinesaliteCtl.state())
    }
    if (p === '/__control/kinesalite' && req.method === 'POST') {
      let c
      try {
        c = body.length ? JSON.parse(body.toString('utf8')) : {}
      } catch (e) {
        return sendJson(res, 400, { error: 'body is not JSON: ' + e.message })
      }
      if (c !== null && typeof c === 'object' && c.up === true) {
        return kinesaliteCtl.reopen((err) => err
          ? sendJson(res, 500, { error: err.message })
          : sendJson(res, 200, kinesaliteCtl.state()))
      }
      if (c === null || typeof c !== 'object' || typeof c.down_ms !== 'number' ||
          !(c.down_ms > 0) || c.down_ms > 600000) {
        return sendJson(res, 400, { error: 'expected {"down_ms": 1..600000} or {"up": true}' })
      }
      return kinesaliteCtl.down(c.down_ms, (err) => err
        ? sendJson(res, 409, { error: err.message })
        : sendJson(res, 200, Object.assign(kinesaliteCtl.state(), { reopen_in_ms: c.down_ms })))
    }
    if (p === '/__control/log' && req.method === 'GET') {
      return sendJson(res, 200, requestLog)
    }
    sendJson(res, 404, { error: 'unknown control endpoint ' + req.method + ' ' + p })
  }

  return () => keepAlive(http.createServer((req, res) => {
    readBody(req, (err, body) => {
      if (err) return
      if (req.url.startsWith('/__control/')) return handleControl(req, res, body)
      handleKinesis(req, res, body)
    })
  }))
}

// --------------------------------------------------- credential metadata fakes

function isoSeconds (ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function makeMetadataServer () {
  const IMDS_TOKEN = 'test-imds-token'
  const CONTAINER_AUTH = 'test-container-auth'
  const ROLE = 'test-role'
  const FAILS = ['imds-token', 'imds-role', 'imds-creds', 'container', 'none']
  const state = {
    expiry_seconds: 3600,
    fail: 'none',
    token_requests: 0,
    role_requests: 0,
    imds_creds_requests: 0,
    container_requests: 0,
    imds_served: 0,
    container_served: 0
  }

  function counters () {
    return {
      token_requests: state.token_requests,
      role_requests: state.role_requests,
      imds_creds_requests: state.imds_creds_requests,
      container_requests: state.container_requests,
      expiry_seconds: state.expiry_seconds,
      fail: state.fail
    }
  }

  function control (req, res, body) {
    if (req.method === 'GET') return sendJson(res, 200, counters())
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'GET or POST' })
    let c
    try {
      c = body.length ? JSON.parse(body.toString('utf8')) : {}
    } catch (e) {
      return sendJson(res, 400, { error: 'body is not JSON: ' + e.message })
    }
    if (c === null || typeof c !== 'object') return sendJson(res, 400, { error: 'expected an object' })
    if (c.fail !== undefined && !FAILS.includes(c.fail)) {
      return sendJson(res, 400, { error: 'fail must be one of ' + FAILS.join('|') })
    }
    if (c.expiry_seconds !== undefined && typeof c.expiry_seconds !== 'number') {
      return sendJson(res, 400, { error: 'expiry_seconds must be a number' })
    }
    if (c.reset) {
      Object.assign(state, {
        expiry_seconds: 3600,
        fail: 'none',
        token_requests: 0,
        role_requests: 0,
        imds_creds_requests: 0,
        container_requests: 0,
        imds_served: 0,
        container_served: 0
      })
    }
    if (c.expiry_seconds !== undefined) state.expiry_seconds = c.expiry_seconds
    if (c.fail !== undefined) state.fail = c.fail
    sendJson(res, 200, counters())
  }

  function failWith500 (res) {
    sendText(res, 500, 'injected failure')
  }

  function imdsTokenOk (req) {
    return req.headers['x-aws-ec2-metadata-token'] === IMDS_TOKEN
  }

  function handle (req, res, body) {
    const p = req.url.split('?')[0]
    if (p === '/__control/metadata') return control(req, res, body)

    if (p === '/latest/api/token') {
      if (req.method !== 'PUT') return sendText(res, 405, 'method not allowed')
      state.token_requests++
      const ttl = req.headers['x-aws-ec2-metadata-token-ttl-seconds']
      if (ttl === undefined || !/^[0-9]+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 21600) {
        return sendText(res, 400, 'missing or invalid X-aws-ec2-metadata-token-ttl-seconds')
      }
      if (state.fail === 'imds-token') return failWith500(res)
      return sendText(res, 200, IMDS_TOKEN, { 'X-aws-ec2-metadata-token-ttl-seconds': ttl })
    }

    if (p === '/latest/meta-data/iam/security-credentials/' ||
        p === '/latest/meta-data/iam/security-credentials') {
      if (req.method !== 'GET') return sendText(res, 405, 'method not allowed')
      state.role_requests++
      if (!imdsTokenOk(req)) return sendText(res, 401, 'unauthorized')
      if (state.fail === 'imds-role') return failWith500(res)
      return sendText(res, 200, ROLE)
    }

    if (p === '/latest/meta-data/iam/security-credentials/' + ROLE) {
      if (req.method !== 'GET') return sendText(res, 405, 'method not allowed')
      state.imds_creds_requests++
      if (!imdsTokenOk(req)) return sendText(res, 401, 'unauthorized')
      if (state.fail === 'imds-creds') return failWith500(res)
      const n = ++state.imds_served
      const now = Date.now()
      return sendJson(res, 200, {
        Code: 'Success',
        LastUpdated: isoSeconds(now),
        Type: 'AWS-HMAC',
        AccessKeyId: 'ASIAIMDS' + n,
        SecretAccessKey: 'imds-secret-' + n,
        Token: 'imds-token-' + n,
        Expiration: isoSeconds(now + state.expiry_seconds * 1000)
      })
    }

    if (p === '/container/creds') {
      if (req.method !== 'GET') return sendText(res, 405, 'method not allowed')
      state.container_requests++
      if (req.headers.authorization !== CONTAINER_AUTH) return sendText(res, 401, 'unauthorized')
      if (state.fail === 'container') return failWith500(res)
      const n = ++state.container_served
      return sendJson(res, 200, {
        AccessKeyId: 'ASIACONTAINER' + n,
        SecretAccessKey: 'container-secret-' + n,
        Token: 'container-token-' + n,
        Expiration: isoSeconds(Date.now() + state.expiry_seconds * 1000)
      })
    }

    sendText(res, 404, 'not found')
  }

  return () => keepAlive(http.createServer((req, res) => {
    readBody(req, (err, body) => {
      if (!err) handle(req, res, body)
    })
  }))
}

// ----------------------------------------------------------------- STS fake

// A scripted AWS STS (Query protocol, XML answers) that checks what it gets:
// the form fields (Version, Action, RoleArn, RoleSessionName,
// DurationSeconds), AssumeRoleWithWebIdentity unsigned and with the token
// set on /__control/sts, AssumeRole signed with SigV4 by a known key (the
// signature is recomputed from the secret) and with that key's session
// token. A request that fails a check gets a 400 FakeCheckFailed naming the
// check. Credentials it issues (ASIASTS<n>, sts-secret-<n>, sts-token-<n>)
// are known keys from then on, so a chain of roles verifies too.
//
// POST /__control/sts {"reset": true, "keys": {"AKID": {"secret": "...",
//   "token": "..."}}, "web_token": "...", "expiry_seconds": N,
//   "script": [{"status": 403, "code": "AccessDenied", "message": "...",
//   "times": N} | {"status": 200, "body": "raw answer"} | {"drop": true}]}
// GET /__control/sts -> {"served", "requests": [{"action", "params",
//   "authorization", "security_token", "access_key_id", "region",
//   "service", "signed_headers", "outcome"}]}

function makeStsServer () {
  const crypto = require('crypto')
  let state

  function resetState () {
    state = { keys: {}, web_token: null, expiry_seconds: 3600, script: [], requests: [], served: 0 }
  }
  resetState()

  const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex')
  const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest()

  function xmlEscape (s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  }

  function sendXml (res, status, xml) {
    res.writeHead(status, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': 'sts-fake-' + state.requests.length })
    res.end(xml)
  }

  function sendError (res, status, code, message) {
    sendXml(res, status, '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' +
      '<Error><Type>Sender</Type><Code>' + xmlEscape(code) + '</Code><Message>' + xmlEscape(message) +
      '</Message></Error><RequestId>fake</RequestId></ErrorResponse>')
  }

  // SigV4 as AWS checks it: returns null when it holds, else [code, message].
  function checkSignature (req, body, entry) {
    const auth = req.headers.authorization || ''
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth)
    if (!m) return ['IncompleteSignature', 'malformed or missing Authorization header']
    const [, akid, date, region, service, signed, signature] = m
    Object.assign(entry, { access_key_id: akid, region, service, signed_headers: signed })
    const key = state.keys[akid]
    if (!key) return ['InvalidClientTokenId', 'unknown access key id']
    const token = req.headers['x-amz-security-token']
    if ((key.token || null) !== (token || null)) return ['InvalidClientTokenId', 'X-Amz-Security-Token does not belong to the access key']
    const names = signed.split(';')
    for (const h of ['host', 'x-amz-date'].concat(token ? ['x-amz-security-token'] : [])) {
      if (!names.includes(h)) return ['IncompleteSignature', h + ' is not signed']
    }
    const amzDate = req.headers['x-amz-date'] || ''
    if (!amzDate.startsWith(date)) return ['IncompleteSignature', 'X-Amz-Date does not match the credential scope']
    const canonHeaders = names.map((h) => h + ':' + String(req.headers[h] || '').trim().replace(/\s+/g, ' ') + '\n').join('')
    const canonical = ['POST', '/', '', canonHeaders, signed, sha256(body)].join('\n')
    const toSign = ['AWS4-HMAC-SHA256', amzDate, [date, region, service, 'aws4_request'].join('/'), sha256(canonical)].join('\n')
    let k = hmac('AWS4' + key.secret, date)
    k = hmac(k, region)
    k = hmac(k, service)
    k = hmac(k, 'aws4_request')
    if (hmac(k, toSign).toString('hex') !== signature) return ['SignatureDoesNotMatch', 'signature does not match']
    return null
  }

  function checkForm (req, params, body) {
    const ct = req.headers['content-type'] || ''
    if (req.method !== 'POST') return 'method is not POST'
    if (!ct.startsWith('application/x-www-form-urlencoded')) return 'Content-Type is ' + ct
    if (params.Version !== '2011-06-15') return 'Version is ' + params.Version
    if (params.Action !== 'AssumeRole' && params.Action !== 'AssumeRoleWithWebIdentity') return 'Action is ' + params.Action
    if (!/^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(params.RoleArn || '')) return 'RoleArn is ' + params.RoleArn
    if (!/^[\w+=,.@-]{2,64}$/.test(params.RoleSessionName || '')) return 'RoleSessionName is ' + params.RoleSessionName
    if (params.DurationSeconds !== undefined &&
        !(/^\d+$/.test(params.DurationSeconds) && +params.DurationSeconds >= 900 && +params.DurationSeconds <= 43200)) {
      return 'DurationSeconds is ' + params.DurationSeconds
    }
    if (params.Action === 'AssumeRoleWithWebIdentity' && params.ExternalId !== undefined) return 'ExternalId with web identity'
    return null
  }

  function control (req, res, body) {
    if (req.method === 'GET') return sendJson(res, 200, { served: state.served, requests: state.requests })
    let c
    try {
      c = body.length ? JSON.parse(body.toString('utf8')) : {}
    } catch (e) {
      return sendJson(res, 400, { error: 'body is not JSON: ' + e.message })
    }
    if (c.reset) resetState()
    if (c.keys) Object.assign(state.keys, c.keys)
    if (c.web_token !== undefined) state.web_token = c.web_token
    if (c.expiry_seconds !== undefined) state.expiry_seconds = c.expiry_seconds
    if (c.script) state.script.push(...c.script)
    sendJson(res, 200, { served: state.served })
  }

  function handle (req, res, body) {
    if (req.url.split('?')[0] === '/__control/sts') return control(req, res, body)
    const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')))
    const entry = {
      action: params.Action,
      params,
      authorization: req.headers.authorization || null,
      security_token: req.headers['x-amz-security-token'] || null,
      outcome: ''
    }
    state.requests.push(entry)
    const fail = (status, code, message) => {
      entry.outcome = code
      sendError(res, status, code, message)
    }
    const bad = checkForm(req, params, body)
    if (bad) return fail(400, 'FakeCheckFailed', bad)
    if (params.Action === 'AssumeRoleWithWebIdentity') {
      if (req.headers.authorization) return fail(400, 'FakeCheckFailed', 'AssumeRoleWithWebIdentity is signed')
      if (params.WebIdentityToken !== state.web_token) return fail(400, 'InvalidIdentityToken', 'the token is not the one expected')
    } else {
      const sig = checkSignature(req, body, entry)
      if (sig) return fail(403, sig[0], sig[1])
    }
    const act = state.script[0]
    if (act) {
      if (!act.times || --act.times <= 0) state.script.shift()
      if (act.drop) {
        entry.outcome = 'drop'
        return req.socket.destroy()
      }
      if (act.body !== undefined) {
        entry.outcome = 'body'
        res.writeHead(act.status || 200, { 'Content-Type': 'text/xml' })
        return res.end(act.body)
      }
      return fail(act.status || 400, act.code || 'AccessDenied', act.message || 'scripted')
    }
    const n = ++state.served
    const cred = { akid: 'ASIASTS' + n, secret: 'sts-secret-' + n, token: 'sts-token-' + n }
    state.keys[cred.akid] = { secret: cred.secret, token: cred.token }
    entry.outcome = 'ok'
    entry.issued = cred.akid
    const a = params.Action
    sendXml(res, 200, '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<' + a + 'Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n' +
      '  <' + a + 'Result>\n' +
      '    <Credentials>\n' +
      '      <AccessKeyId>' + cred.akid + '</AccessKeyId>\n' +
      '      <SecretAccessKey>' + cred.secret + '</SecretAccessKey>\n' +
      '      <SessionToken>' + cred.token + '</SessionToken>\n' +
      '      <Expiration>' + isoSeconds(Date.now() + state.expiry_seconds * 1000) + '</Expiration>\n' +
      '    </Credentials>\n' +
      '    <AssumedRoleUser><Arn>' + xmlEscape(params.RoleArn) + '/' + xmlEscape(params.RoleSessionName) +
      '</Arn><AssumedRoleId>AROAFAKE:' + xmlEscape(params.RoleSessionName) + '</AssumedRoleId></AssumedRoleUser>\n' +
      '  </' + a + 'Result>\n' +
      '  <ResponseMetadata><RequestId>fake-' + n + '</RequestId></ResponseMetadata>\n' +
      '</' + a + 'Response>\n')
  }

  return () => keepAlive(http.createServer((req, res) => {
    readBody(req, (err, body) => {
      if (!err) handle(req, res, body)
    })
  }))
}

// ------------------------------------------------------------- STS fake end

// -------------------------------------------- IAM Identity Center portal fake

// GetRoleCredentials, as the SSO portal serves it, for
// test/integration/test_cred_sso.c (KINESIS_TEST_SSO_URL):
//   GET /federation/credentials?role_name=R&account_id=A
//   x-amz-sso_bearer_token: TOKEN
// It answers only SSO_TOKEN, SSO_ROLE and SSO_ACCOUNT: another token is a
// 401 UnauthorizedException, another role or account a 403
// ForbiddenException. POST /__control/sso {"reset": true, "fail": F,
// "fail_times": N} makes the next N requests (0: all) fail with F (500,
// 401 or malformed); GET returns the counters.
function makeSsoPortalServer () {
  const SSO_TOKEN = 'test-sso-bearer-token'
  const SSO_ROLE = 'test-sso-role'
  const SSO_ACCOUNT = '123456789012'
  const FAILS = ['none', '500', '401', 'malformed']
  const fresh = () => ({ fail: 'none', fail_times: 0, requests: 0, served: 0, refused: 0 })
  let state = fresh()

  function control (req, res, body) {
    if (req.method === 'GET') return sendJson(res, 200, state)
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'GET or POST' })
    let c
    try {
      c = body.length ? JSON.parse(body.toString('utf8')) : {}
    } catch (e) {
      return sendJson(res, 400, { error: 'body is not JSON: ' + e.message })
    }
    if (c === null || typeof c !== 'object') return sendJson(res, 400, { error: 'expected an object' })
    if (c.fail !== undefined && !FAILS.includes(c.fail)) {
      return sendJson(res, 400, { error: 'fail must be one of ' + FAILS.join('|') })
    }
    if (c.fail_times !== undefined && !(Number.isInteger(c.fail_times) && c.fail_times >= 0)) {
      return sendJson(res, 400, { error: 'fail_times must be an integer >= 0' })
    }
    if (c.reset) state = fresh()
    if (c.fail !== undefined) state.fail = c.fail
    if (c.fail_times !== undefined) state.fail_times = c.fail_times
    sendJson(res, 200, state)
  }

  function ssoError (res, status, type, message) {
    sendJson(res, status, { message }, { 'x-amzn-ErrorType': type })
  }

  function handle (req, res, body) {
    const url = new URL(req.url, 'http://localhost')
    if (url.pathname === '/__control/sso') return control(req, res, body)
    if (url.pathname !== '/federation/credentials') return sendText(res, 404, 'not found')
    if (req.method !== 'GET') return sendText(res, 405, 'method not allowed')
    state.requests++
    // Nothing else may ride along: the request is unsigned.
    if (req.headers.authorization !== undefined) {
      state.refused++
      return ssoError(res, 400, 'InvalidRequestException', 'unexpected Authorization header')
    }
    if (req.headers['x-amz-sso_bearer_token'] !== SSO_TOKEN) {
      state.refused++
      return ssoError(res, 401, 'UnauthorizedException', 'Session token not found or invalid')
    }
    const role = url.searchParams.get('role_name')
    const account = url.searchParams.get('account_id')
    if (role === null || account === null) {
      state.refused++
      return ssoError(res, 400, 'InvalidRequestException', 'role_name and account_id are required')
    }
    if (role !== SSO_ROLE || account !== SSO_ACCOUNT) {
      state.refused++
      return ssoError(res, 403, 'ForbiddenException', 'No access')
    }
    if (state.fail !== 'none') {
      const fail = state.fail
      if (state.fail_times > 0 && --state.fail_times === 0) state.fail = 'none'
      if (fail === '500') return ssoError(res, 500, 'InternalServerException', 'injected failure')
      if (fail === '401') return ssoError(res, 401, 'UnauthorizedException', 'Session token not found or invalid')
      if (fail === 'malformed') return sendJson(res, 200, { roleCredentials: { accessKeyId: 'ASIASSOBAD' } })
    }
    const n = ++state.served
    sendJson(res, 200, {
      roleCredentials: {
        accessKeyId: 'ASIASSO' + n,
        secretAccessKey: 'sso-secret-' + n,
        sessionToken: 'sso-session-token-' + n,
        expiration: Date.now() + 3600 * 1000
      }
    })
  }

  return () => keepAlive(http.createServer((req, res) => {
    readBody(req, (err, body) => {
      if (!err) handle(req, res, body)
    })
  }))
}

// ------------------------------------------------------------- kinesis-mock

// kinesis-mock (npm kinesis-local, the Scala.js build), for the tests that
// need what kinesalite lacks: ListShards' ShardFilter, and GetShardIterator
// AT_TIMESTAMP on shards that closed before the timestamp (mocks.md). It
// runs as a child process (it reads server.json from its own directory) on
// ports found free here, and is started only when KINESIS_TEST_WITH_MOCK=1,
// since it takes a few seconds to come up. cb(err, plainPort, tlsPort,
// child) runs once both ports accept connections. The TLS port serves the
// certificate bundled in its server.json: self-signed, for CN "Unknown"
// with no subject alternative name, so no client can verify it (tests use
// kinesis_client_options_t.insecure there).
function startKinesisMock (cb) {
  let mockDir
  try {
    mockDir = path.dirname(require.resolve('kinesis-local/package.json'))
  } catch (e) {
    return cb(new Error('cannot find kinesis-local (run `npm ci --prefix test`): ' + e.message))
  }
  const ports = []
  const findPort = (done) => {
    const probe = net.createServer()
    probe.listen(0, '127.0.0.1', () => {
      const port = probe.address().port
      probe.close(() => done(port))
    })
  }
  findPort((plain) => findPort((tls) => {
    ports.push(plain, tls)
    const child = childProcess.spawn(process.execPath, ['main.js'], {
      cwd: mockDir,
      env: Object.assign({}, process.env, {
        KINESIS_MOCK_PLAIN_PORT: String(plain),
        KINESIS_MOCK_TLS_PORT: String(tls),
        LOG_LEVEL: 'WARN'
      }),
      stdio: ['ignore', 'inherit', 'inherit']
    })
    let started = false
    child.on('exit', (code) => {
      if (!started) cb(new Error('kinesis-mock exited with ' + code))
    })
    const deadline = Date.now() + 60000
    const poll = (port, done) => {
      const sock = net.connect(port, '127.0.0.1')
      sock.on('connect', () => {
        sock.destroy()
        done()
      })
      sock.on('error', () => {
        if (Date.now() > deadline) {
          child.kill('SIGKILL')
          return cb(new Error('kinesis-mock did not listen within 60 s'))
        }
        setTimeout(() => poll(port, done), 100)
      })
    }
    poll(plain, () => poll(tls, () => {
      started = true
      cb(null, plain, tls, child)
    }))
  }))
}

// ---------------------------------------------------------------------- main

function shellQuote (s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'"
}

function main () {
  const opts = parseArgs(process.argv.slice(2))
  let kinesalite
  try {
    kinesalite = require('kinesalite')
  } catch (e) {
    fail('cannot load kinesalite (run `npm ci --prefix test`): ' + e.message)
  }
  let dynalite
  try {
    dynalite = require('dynalite')
  } catch (e) {
    fail('cannot load dynalite (run `npm ci --prefix test`): ' + e.message)
  }

  const all = []
  let mockChild = null
  const stop = (code) => {
    if (mockChild) mockChild.kill('SIGKILL')
    for (const s of all) {
      if (typeof s.closeAllConnections === 'function') s.closeAllConnections()
    }
    process.exit(code)
  }
  // kinesalite and dynalite throw from a request's 'error' event when a
  // client goes away mid-request (req.on('error', function(err) { throw
  // err })); tests do that on purpose, and one client must not take every
  // server down.
  process.on('uncaughtException', (err) => {
    log('ignored uncaught exception: ' + (err && err.stack ? err.stack : err))
  })
  process.on('SIGTERM', () => stop(0))
  process.on('SIGINT', () => stop(0))
  process.on('SIGHUP', () => stop(0))
  setTimeout(() => {
    log('maximum lifetime of ' + opts.maxLifetime + ' s reached, exiting')
    stop(0)
  }, opts.maxLifetime * 1000).unref()
  if (!opts.ignoreStdin) {
    process.stdin.on('end', () => stop(0))
    process.stdin.on('error', () => stop(0))
    process.stdin.on('data', () => {})
    process.stdin.resume()
  }

  const ports = {}
  let kinesaliteCtl = null
  const steps = [
    (next) => startKinesalite(kinesalite, (err, port, servers, ctl) => {
      if (err) return next(err)
      ports.kinesalite = port
      kinesaliteCtl = ctl
      all.push(...servers)
      next()
    }),
    (next) => startKinesaliteTls(kinesalite, opts, (err, port, servers) => {
      if (err) return next(err)
      ports.tls = port
      all.push(...servers)
      next()
    }),
    (next) => listenLoopback(makeFaultServer(ports.kinesalite, kinesaliteCtl), false, (err, port, servers) => {
      if (err) return next(err)
      ports.fault = port
      all.push(...servers)
      next()
    }),
    (next) => startDynalite(dynalite, (err, port, servers) => {
      if (err) return next(err)
      ports.dynamodb = port
      all.push(...servers)
      next()
    }),
    (next) => listenLoopback(makeMetadataServer(), false, (err, port, servers) => {
      if (err) return next(err)
      ports.metadata = port
      all.push(...servers)
      next()
    }),
    (next) => listenLoopback(makeStsServer(), false, (err, port, servers) => {
      if (err) return next(err)
      ports.sts = port
      all.push(...servers)
      next()
    }),
    (next) => listenLoopback(makeSsoPortalServer(), false, (err, port, servers) => {
      if (err) return next(err)
      ports.sso = port
      all.push(...servers)
      next()
    })
  ]

  let i = 0
  if (process.env.KINESIS_TEST_WITH_MOCK === '1') {
    steps.push((next) => startKinesisMock((err, port, tlsPort, child) => {
      if (err) return next(err)
      ports.mock = port
      ports.mockTls = tlsPort
      mockChild = child
      next()
    }))
  }
  const next = (err) => {
    if (err) {
      if (mockChild) mockChild.kill('SIGKILL')
      fail('cannot start servers: ' + err.message)
    }
    if (i < steps.length) return steps[i++](next)
    const vars = [
      ['KINESIS_TEST_ENDPOINT', 'http://127.0.0.1:' + ports.kinesalite],
      ['KINESIS_TEST_TLS_ENDPOINT', 'https://localhost:' + ports.tls],
      ['KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT', 'https://127.0.0.1:' + ports.tls],
      ['KINESIS_TEST_CA_FILE', path.resolve(opts.ca)],
      ['KINESIS_TEST_FAULT_ENDPOINT', 'http://127.0.0.1:' + ports.fault],
      ['KINESIS_TEST_DYNAMODB_ENDPOINT', 'http://127.0.0.1:' + ports.dynamodb],
      ['KINESIS_TEST_METADATA_URL', 'http://127.0.0.1:' + ports.metadata],
      ['KINESIS_TEST_STS_URL', 'http://127.0.0.1:' + ports.sts],
      ['KINESIS_TEST_SSO_URL', 'http://127.0.0.1:' + ports.sso]
    ]
    if (ports.mock) {
      vars.push(['KINESIS_TEST_MOCK_ENDPOINT', 'http://127.0.0.1:' + ports.mock])
      // Its certificate does not verify (startKinesisMock).
      vars.push(['KINESIS_TEST_MOCK_TLS_ENDPOINT', 'https://localhost:' + ports.mockTls])
    }
    const text = vars.map(([k, v]) => 'export ' + k + '=' + shellQuote(v) + '\n').join('')
    if (opts.envFile) {
      const tmp = opts.envFile + '.tmp'
      fs.writeFileSync(tmp, text)
      fs.renameSync(tmp, opts.envFile)
    } else {
      process.stdout.write(text)
    }
  }
  next()
}

main()
