// The AWS SDK for JavaScript v3 against `kinesis serve` (issue 18): a
// second client, written by others, must find the fake service shaped as
// the real one. Create a stream, put, read back exactly, split, read the
// closed parent to its end (ChildShards), merge, and stop the service with
// SIGTERM (exit 0).
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
  MergeShardsCommand,
} from '@aws-sdk/client-kinesis';

const exe = process.argv[2];
if (!exe) {
  console.error('usage: node test_sdk_serve.mjs KINESIS_EXE');
  process.exit(2);
}

// Starts `kinesis serve` and resolves with its URL, its first line.
function startServe() {
  const child = spawn(exe, ['serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
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

    // An unknown stream is the service's ResourceNotFoundException.
    await assert.rejects(
      kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'nope' })),
      (e) => e.name === 'ResourceNotFoundException');
  } finally {
    kinesis.destroy();
    const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
    child.kill('SIGTERM');
    const { code, sig } = await exited;
    assert.equal(sig, null);
    assert.equal(code, 0);
  }
  console.log('sdk_serve: ok');
}

main().catch((e) => {
  console.error('sdk_serve:', e);
  process.exit(1);
});
