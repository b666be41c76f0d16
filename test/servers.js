#!/usr/bin/env node
'use strict'

// Test servers for the libkinesis integration tests, all in one process,
// each on a loopback port the OS picks:
//
//   kinesalite over HTTP, kinesalite over HTTPS (certificate given by the
//   caller), a fault-injecting Kinesis proxy in front of the HTTP kinesalite,
//   and fake EC2 instance metadata (IMDSv2) / container credential endpoints.
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
// The only dependency is kinesalite (test/package-lock.json); the rest is
// node's standard library. See test/fault.h for how the tests drive it.

const fs = require('fs')
const http = require('http')
const https = require('https')
const path = require('path')

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

function kinesaliteOptions () {
  return { createStreamMs: 100, deleteStreamMs: 100, updateStreamMs: 100, shardLimit: 100 }
}

function startKinesalite (kinesalite, cb) {
  listenLoopback(() => keepAlive(kinesalite(kinesaliteOptions())), false, cb)
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

// -------------------------------------------------------------- fault server

function makeFaultServer (upstreamPort) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  let queue = []
  let requestLog = []
  let counter = 0

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
    forward(req, body, (err, s, h, b) => relay(res, entry, err, s, h, b))
  }

  function handleKinesis (req, res, body) {
    const targetHeader = req.headers['x-amz-target'] || ''
    const target = targetHeader.startsWith(TARGET_PREFIX) ? targetHeader.slice(TARGET_PREFIX.length) : ''
    const isKinesis = req.method === 'POST' && target !== ''
    const a = isKinesis ? takeAction(target) : null
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
      return sendJson(res, 200, { reset: true })
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

  const all = []
  const stop = (code) => {
    for (const s of all) {
      if (typeof s.closeAllConnections === 'function') s.closeAllConnections()
    }
    process.exit(code)
  }
  // kinesalite throws from a request's 'error' event when a client goes away
  // mid-request (req.on('error', function(err) { throw err })); tests do
  // that on purpose, and one client must not take every server down.
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
  const steps = [
    (next) => startKinesalite(kinesalite, (err, port, servers) => {
      if (err) return next(err)
      ports.kinesalite = port
      all.push(...servers)
      next()
    }),
    (next) => startKinesaliteTls(kinesalite, opts, (err, port, servers) => {
      if (err) return next(err)
      ports.tls = port
      all.push(...servers)
      next()
    }),
    (next) => listenLoopback(makeFaultServer(ports.kinesalite), false, (err, port, servers) => {
      if (err) return next(err)
      ports.fault = port
      all.push(...servers)
      next()
    }),
    (next) => listenLoopback(makeMetadataServer(), false, (err, port, servers) => {
      if (err) return next(err)
      ports.metadata = port
      all.push(...servers)
      next()
    })
  ]

  let i = 0
  const next = (err) => {
    if (err) fail('cannot start servers: ' + err.message)
    if (i < steps.length) return steps[i++](next)
    const vars = [
      ['KINESIS_TEST_ENDPOINT', 'http://127.0.0.1:' + ports.kinesalite],
      ['KINESIS_TEST_TLS_ENDPOINT', 'https://localhost:' + ports.tls],
      ['KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT', 'https://127.0.0.1:' + ports.tls],
      ['KINESIS_TEST_CA_FILE', path.resolve(opts.ca)],
      ['KINESIS_TEST_FAULT_ENDPOINT', 'http://127.0.0.1:' + ports.fault],
      ['KINESIS_TEST_METADATA_URL', 'http://127.0.0.1:' + ports.metadata]
    ]
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
