// The AWS SDK for JavaScript v3 against `kinesis serve` (issue 18): a
// second client, written by others, must find the fake service shaped as
// the real one. Create a stream, put, read back exactly, split, read the
// closed parent to its end (ChildShards), merge; subscribe through a
// registered consumer (enhanced fan-out) to an open shard and to the closed
// parent; see a shard's write limit
// throttle entries inside PutRecords; and with --keys, the SDK's own
// signatures accepted and a wrong secret or key refused. Each service
// stops with SIGTERM (exit 0).
//
//   node test_sdk_serve.mjs KINESIS_EXE
//
// Exit status 0 when every check held; 1 with the first that did not.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand,
  PutRecordsCommand, PutRecordCommand, ListShardsCommand,
  GetShardIteratorCommand, GetRecordsCommand, SplitShardCommand,
  MergeShardsCommand, RegisterStreamConsumerCommand, SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';

const exe = process.argv[2];
if (!exe) {
  console.error('usage: node test_sdk_serve.mjs KINESIS_EXE');
  process.exit(2);
}

// Starts `kinesis serve` and resolves with its URL, its first line.
function startServe(args = []) {
  const child = spawn(exe, ['serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (url) => resolve({ child, url }));
    child.once('exit', (code) => reject(new Error(`kinesis serve exited ${code}`)));
  });
}

async function waitActive(kinesis, name) {
  for (let i = 0; i < 200; i++) {
    const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (d.StreamDescriptionSummary.StreamStatus === 'ACTIVE')
      return d.StreamDescriptionSummary;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${name} never became ACTIVE`);
}

// Every record of a shard from TRIM_HORIZON, and the last answer.
async function readShard(kinesis, name, shardId) {
  const it = await kinesis.send(new GetShardIteratorCommand({
    StreamName: name, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON',
  }));
  let iterator = it.ShardIterator;
  const records = [];
  let last;
  for (let i = 0; i < 20 && iterator; i++) {
    last = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
    records.push(...last.Records);
    if (last.Records.length === 0 && last.MillisBehindLatest === 0)
      break;
    iterator = last.NextShardIterator;
  }
  return { records, last };
}

const text = (r) => Buffer.from(r.Data).toString('utf8');

async function stopServe(child) {
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
  child.kill('SIGTERM');
  const { code, sig } = await exited;
  assert.equal(sig, null);
  assert.equal(code, 0);
}

const client = (url, accessKeyId, secretAccessKey) => new KinesisClient({
  endpoint: url, region: 'us-east-1', maxAttempts: 1,
  credentials: { accessKeyId, secretAccessKey },
});

// With --keys, the SDK's own SigV4 (not the library's) must pass, and a
// wrong secret or an unknown key be refused as Kinesis refuses them.
async function signatures() {
  const { child, url } = await startServe(['--keys', 'AKIDSDK:sdk-secret']);
  const good = client(url, 'AKIDSDK', 'sdk-secret');
  const wrong = client(url, 'AKIDSDK', 'not-the-secret');
  const unknown = client(url, 'AKIDNOBODY', 'sdk-secret');
  try {
    await good.send(new CreateStreamCommand({ StreamName: 'signed', ShardCount: 1 }));
    await waitActive(good, 'signed');
    const r = await good.send(new PutRecordCommand({
      StreamName: 'signed', Data: Buffer.from('x'), PartitionKey: 'k',
    }));
    assert.equal(r.ShardId, 'shardId-000000000000');
    await assert.rejects(wrong.send(new ListShardsCommand({ StreamName: 'signed' })),
      (e) => e.name === 'InvalidSignatureException');
    await assert.rejects(unknown.send(new ListShardsCommand({ StreamName: 'signed' })),
      (e) => e.name === 'UnrecognizedClientException');
  } finally {
    good.destroy();
    wrong.destroy();
    unknown.destroy();
    await stopServe(child);
  }
}

async function main() {
  const { child, url } = await startServe();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const kinesis = new KinesisClient({
    endpoint: url, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  try {
    const name = 'sdk';
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
    const summary = await waitActive(kinesis, name);
    assert.equal(summary.OpenShardCount, 2);
    assert.equal(summary.StreamARN, `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`);

    // 50 records over both shards; each answer names its shard.
    const put = [];
    for (let i = 0; i < 50; i++)
      put.push({ Data: Buffer.from(`record ${i}`), PartitionKey: `key ${i}` });
    const res = await kinesis.send(new PutRecordsCommand({ StreamName: name, Records: put }));
    assert.equal(res.FailedRecordCount ?? 0, 0);
    assert.equal(res.Records.length, 50);
    for (const r of res.Records)
      assert.match(r.SequenceNumber, /^\d+$/);

    // Read back, exactly: every record once, each shard in put order.
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards;
    assert.deepEqual(shards.map((s) => s.ShardId),
      ['shardId-000000000000', 'shardId-000000000001']);
    assert.equal(shards[0].HashKeyRange.StartingHashKey, '0');
    assert.equal(shards[1].HashKeyRange.EndingHashKey,
      '340282366920938463463374607431768211455');
    const seen = [];
    for (const s of shards) {
      const { records } = await readShard(kinesis, name, s.ShardId);
      const mine = res.Records.map((r, i) => ({ r, i })).filter((x) => x.r.ShardId === s.ShardId);
      assert.deepEqual(records.map(text), mine.map((x) => `record ${x.i}`));
      assert.deepEqual(records.map((r) => r.SequenceNumber), mine.map((x) => x.r.SequenceNumber));
      seen.push(...records.map(text));
    }
    assert.equal(new Set(seen).size, 50);

    // An explicit hash key of 0 lands on the first shard.
    const one = await kinesis.send(new PutRecordCommand({
      StreamName: name, Data: Buffer.from('first'), PartitionKey: 'x', ExplicitHashKey: '0',
    }));
    assert.equal(one.ShardId, 'shardId-000000000000');

    // Split the first shard in two; the parent closes, ends with ChildShards.
    await kinesis.send(new SplitShardCommand({
      StreamName: name, ShardToSplit: 'shardId-000000000000',
      NewStartingHashKey: '85070591730234615865843651857942052864',
    }));
    await waitActive(kinesis, name);
    const after = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards;
    assert.equal(after.length, 4);
    const parent = after.find((s) => s.ShardId === 'shardId-000000000000');
    assert.ok(parent.SequenceNumberRange.EndingSequenceNumber);
    const children = after.filter((s) => s.ParentShardId === 'shardId-000000000000');
    assert.equal(children.length, 2);
    const end = await readShard(kinesis, name, 'shardId-000000000000');
    assert.equal(end.last.NextShardIterator, undefined);
    assert.deepEqual(end.last.ChildShards.map((c) => c.ShardId).sort(),
      children.map((c) => c.ShardId).sort());

    // Merge the two children back: one open shard where they were.
    await kinesis.send(new MergeShardsCommand({
      StreamName: name, ShardToMerge: children[0].ShardId,
      AdjacentShardToMerge: children[1].ShardId,
    }));
    await waitActive(kinesis, name);
    const merged = (await kinesis.send(new ListShardsCommand({
      StreamName: name, ShardFilter: { Type: 'AT_LATEST' },
    }))).Shards;
    assert.equal(merged.length, 2);
    const m = merged.find((s) => s.AdjacentParentShardId !== undefined);
    assert.equal(m.HashKeyRange.StartingHashKey, '0');

    // Enhanced fan-out through the SDK's own HTTP/2 and event-stream
    // reader: a consumer registered, then the open shard's records pushed
    // (the SDK checks each message's CRCs), and the closed parent's stream
    // ending with its children and no ContinuationSequenceNumber.
    const reg = await kinesis.send(new RegisterStreamConsumerCommand({
      StreamARN: summary.StreamARN, ConsumerName: 'sdk-efo',
    }));
    assert.equal(reg.Consumer.ConsumerName, 'sdk-efo');
    const wantOne = res.Records.filter((r) => r.ShardId === 'shardId-000000000001');
    const pushed = [];
    const sub = await kinesis.send(new SubscribeToShardCommand({
      ConsumerARN: reg.Consumer.ConsumerARN, ShardId: 'shardId-000000000001',
      StartingPosition: { Type: 'TRIM_HORIZON' },
    }));
    for await (const ev of sub.EventStream) {
      assert.ok(ev.SubscribeToShardEvent, `unexpected event ${Object.keys(ev)}`);
      pushed.push(...ev.SubscribeToShardEvent.Records);
      assert.match(ev.SubscribeToShardEvent.ContinuationSequenceNumber, /^\d+$/);
      if (pushed.length >= wantOne.length)
        break;
    }
    assert.deepEqual(pushed.map((r) => r.SequenceNumber),
      wantOne.map((r) => r.SequenceNumber));
    let ended;
    const subEnd = await kinesis.send(new SubscribeToShardCommand({
      ConsumerARN: reg.Consumer.ConsumerARN, ShardId: 'shardId-000000000000',
      StartingPosition: { Type: 'TRIM_HORIZON' },
    }));
    for await (const ev of subEnd.EventStream)
      ended = ev.SubscribeToShardEvent;
    assert.equal(ended.ContinuationSequenceNumber, undefined);
    assert.deepEqual(ended.ChildShards.map((c) => c.ShardId).sort(),
      children.map((c) => c.ShardId).sort());

    // An unknown stream is the service's ResourceNotFoundException.
    await assert.rejects(
      kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'nope' })),
      (e) => e.name === 'ResourceNotFoundException');

    // A shard takes 1,000 records a second: PutRecords of 500 in a row to
    // one shard soon see entries fail inside the 200, each with the
    // service's code, while the others are stored. (However slow the
    // machine, 20 batches in a row cannot all stay under the rate unless
    // they take 10 s.)
    await kinesis.send(new CreateStreamCommand({ StreamName: 'limits', ShardCount: 1 }));
    await waitActive(kinesis, 'limits');
    const batch = [];
    for (let i = 0; i < 500; i++)
      batch.push({ Data: Buffer.alloc(100, 97), PartitionKey: `k${i}` });
    let throttled = 0;
    let stored = 0;
    const t0 = Date.now();
    for (let i = 0; i < 20 && throttled === 0; i++) {
      const r = await kinesis.send(new PutRecordsCommand({ StreamName: 'limits', Records: batch }));
      throttled += r.FailedRecordCount ?? 0;
      for (const e of r.Records) {
        if (e.ErrorCode !== undefined)
          assert.equal(e.ErrorCode, 'ProvisionedThroughputExceededException');
        else
          stored++;
      }
    }
    assert.ok(throttled > 0 || Date.now() - t0 >= 10000, 'no entry was throttled');
    assert.ok(stored >= 1000);
  } finally {
    kinesis.destroy();
    await stopServe(child);
  }
  await signatures();
  console.log('sdk_serve: ok');
}

main().catch((e) => {
  console.error('sdk_serve:', e);
  process.exit(1);
});
