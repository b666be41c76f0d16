#!/usr/bin/env python3
"""Writes the seed corpus of the fuzzing harnesses, test/fuzz/corpus/<name>/.

Each seed is a small, realistic input made here by hand: answers of the kind
kinesalite and AWS give for each action, error bodies, credentials and
config files, metadata service documents, `kinesis put` lines, and KPL
aggregates encoded from the format in protocol.md section 6. The first byte
of a `responses` seed picks the parser, of a `scanner_diff` seed the hot
answer (and the records sent), and of a `deagg` seed the framing (see
fuzz_responses.c, fuzz_scanner_diff.c and fuzz_deagg.c). Run it again after changing either.
"""
import base64
import hashlib
import json
import os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
for h in ('responses', 'deagg', 'profile', 'metadata', 'put_line',
          'scanner_diff', 'url', 'serve_auth', 'eventstream'):
    os.makedirs(os.path.join(root, h), exist_ok=True)
def w(h, name, data):
    if isinstance(data, str): data = data.encode()
    open(os.path.join(root, h, name), 'wb').write(data)

# responses: selector byte + body
SUM=0; LIST=1; ITER=2; GET=3; PUT=4; ERRH=5; EVT=6; ERR=7
seq1 = '49590338271490256608559692538361571095921575989136588898'
seq2 = '49590338271490256608559692540925702759324208523137515618'
w('responses','summary_active', bytes([SUM]) + json.dumps({"StreamDescriptionSummary":{
  "StreamName":"orders","StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/orders",
  "StreamStatus":"ACTIVE","StreamModeDetails":{"StreamMode":"PROVISIONED"},
  "RetentionPeriodHours":24,"StreamCreationTimestamp":1459799926.48,
  "EnhancedMonitoring":[{"ShardLevelMetrics":[]}],"EncryptionType":"NONE",
  "OpenShardCount":2,"ConsumerCount":0}}).encode())
w('responses','summary_creating', bytes([SUM]) + b'{"StreamDescriptionSummary":{"StreamName":"s","StreamStatus":"CREATING","StreamModeDetails":{"StreamMode":"ON_DEMAND"},"OpenShardCount":0,"MaxRecordSizeInKiB":1024}}')
w('responses','list_two_shards', bytes([LIST]) + json.dumps({"Shards":[
  {"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"170141183460469231731687303715884105727"},
   "SequenceNumberRange":{"StartingSequenceNumber":seq1}},
  {"ShardId":"shardId-000000000001","HashKeyRange":{"StartingHashKey":"170141183460469231731687303715884105728","EndingHashKey":"340282366920938463463374607431768211455"},
   "SequenceNumberRange":{"StartingSequenceNumber":seq2}}]}).encode())
w('responses','list_split_paged', bytes([LIST]) + json.dumps({"Shards":[
  {"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},
   "SequenceNumberRange":{"StartingSequenceNumber":seq1,"EndingSequenceNumber":seq2}},
  {"ShardId":"shardId-000000000001","ParentShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"85070591730234615865843651857942052863"},
   "SequenceNumberRange":{"StartingSequenceNumber":"49590338271512557353758223161503106744957925398138470418"}}],
  "NextToken":"AAAAAAAAAAGK9EEG0sJqVhCUS2JsgigQ5dcpB4q9PYswrH2oK44Skbjtm+WR0xA7/hrAFFsohevH1/OyPnbzKBS1byPyCZuVcokYtQe/b1m4c0SCI7jctPT0oUTLRdwSRirKm9dp9YC/EL+kZHOvYAUnztVGsOAPEFVJbW2D5i62lxsHoXn9thEehKSuLt9dUU5Hon3ZGg=="}).encode())
w('responses','list_empty', bytes([LIST]) + b'{"Shards":[]}')
w('responses','iterator', bytes([ITER]) + b'{"ShardIterator":"AAAAAAAAAAETYyAYzd665+8e0X7JTsASDM/Hr2rSwc0X2qz93iuA3udrjTH+ikQvpQk/1ZcMMLzRdAesqwBGPnsthzU0/CBlM/U8/8oEqGwX3pKw0XyeDNRAAZyXBo3MqkQtCpXhr942BRTjvWKhFz7OmCb2Ncfr8Tl2cBktooi6kJhr+djN5WYkB38Rr3akRgCl9qaU4dY="}')
def rec(data, pk, seq, t=1459799926.48):
    return {"SequenceNumber":seq,"ApproximateArrivalTimestamp":t,"Data":base64.b64encode(data).decode(),"PartitionKey":pk}
gr = {"Records":[rec(b'hello',"a",seq1), rec(bytes(range(256)),"\u65e5\u672c",seq2,1459799927.5)],
      "NextShardIterator":"AAAAAAAAAAEkuCmrC+QDW1gUywyu7G8GxvRyM6GSMkcHQ9wrvCJBW87mjn9C8YEckkipaoJySwgKXMmn4BwSPjEEGzsEgeDvN7LkwqvmL2WKIeBm","MillisBehindLatest":0}
body = json.dumps(gr).encode()
w('responses','get_two', bytes([GET]) + body)
w('responses','get_two_take', bytes([GET|0x80]) + body)
w('responses','get_empty_kinesalite', bytes([GET]) + b'{"Records":[],"NextShardIterator":"AAAAAAAAAAHsW8zCWf9164uy8Epue6WS3w6wmj4a4USt+CNvMd6uXQ+HL5vAJMznqqC0DLKsIjuoiTi1BpT6nW0LN2M2D56zM5H8anHm30Gbri9ua+qaGgj+3XTyvbhpERfrezgLHbPB/rIcVpykJbaSj5tmcXYRmFnqZBEyHwtZYFmh6hvWVFkIwLuMZLMrpWhG5r5hzkE=","MillisBehindLatest":0}')
w('responses','get_closed_children', bytes([GET]) + json.dumps({"Records":[],"NextShardIterator":None,"MillisBehindLatest":0,
  "ChildShards":[{"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000","shardId-000000000001"],
   "HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]}).encode())
w('responses','get_escapes_unknowns', bytes([GET]) + b'{"Records":[{"SequenceNumber":"1","Data":"","PartitionKey":"k\\u00e9\\ud83d\\ude00\\n\\"","EncryptionType":"KMS","Extra":{"a":[1,2.5e3,true,null]}}],"NextShardIterator":"x","MillisBehindLatest":12.0}')
w('responses','put_two_ok', bytes([PUT, 2]) + json.dumps({"FailedRecordCount":0,"Records":[
  {"SequenceNumber":seq1,"ShardId":"shardId-000000000000"},{"SequenceNumber":seq2,"ShardId":"shardId-000000000001"}]}).encode())
w('responses','put_partial_take', bytes([PUT|0x80, 3]) + json.dumps({"FailedRecordCount":1,"Records":[
  {"SequenceNumber":seq1,"ShardId":"shardId-000000000000"},
  {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard shardId-000000000001 in stream orders under account 000000000000."},
  {"SequenceNumber":seq2,"ShardId":"shardId-000000000000","EncryptionType":"NONE"}],"EncryptionType":"NONE"}).encode())
w('responses','subscribe_event', bytes([EVT]) + json.dumps({"Records":[
  {"Data":"aGVsbG8=","PartitionKey":"k","SequenceNumber":seq1,
   "ApproximateArrivalTimestamp":1459799926.48,"EncryptionType":"NONE"}],
  "ContinuationSequenceNumber":seq2,"MillisBehindLatest":0}).encode())
w('responses','subscribe_event_end', bytes([EVT]) + json.dumps({"Records":[],
  "ContinuationSequenceNumber":None,"MillisBehindLatest":0,"ChildShards":[
  {"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000"],
   "HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]}).encode())
w('responses','register_consumer', bytes([0x87]) + json.dumps({"Consumer":{
  "ConsumerName":"app","ConsumerARN":"arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app:1459799926",
  "ConsumerStatus":"CREATING","ConsumerCreationTimestamp":1459799926.48}}).encode())
w('responses','list_consumers', bytes([0xc7]) + json.dumps({"Consumers":[
  {"ConsumerName":"app","ConsumerARN":"arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app:1459799926",
   "ConsumerStatus":"ACTIVE","ConsumerCreationTimestamp":1459799926.48}],"NextToken":"AAAA"}).encode())
w('responses','error_header', bytes([ERRH]) + b'ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.kinesis/\n{"__type":"ResourceNotFoundException","message":"Stream orders under account 000000000000 not found."}')
w('responses','error_namespaced', bytes([ERR]) + b'{"__type":"com.amazonaws.kinesis.v20131202#ProvisionedThroughputExceededException","message":"Rate exceeded for shard"}')
w('responses','error_kinesalite_serialization', bytes([ERR]) + b'{"__type":"SerializationException","Message":"Base64 decoding failed"}')
w('responses','error_code_member', bytes([ERR]) + b'{"code":"ExpiredIteratorException:x","Message":"Iterator expired"}')
w('responses','error_html_502', bytes([ERR]) + b'<html><body>502 Bad Gateway</body></html>')

# metadata
w('metadata','ecs', json.dumps({"RoleArn":"arn:aws:iam::000000000000:role/task","AccessKeyId":"ASIAIOSFODNN7EXAMPLE",
  "SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","Token":"IQoJb3JpZ2luX2VjEXAMPLETOKEN","Expiration":"2026-11-26T05:02:44Z"}))
w('metadata','imds', '{\n  "Code" : "Success",\n  "LastUpdated" : "2026-11-26T04:32:44Z",\n  "Type" : "AWS-HMAC",\n  "AccessKeyId" : "ASIAIOSFODNN7EXAMPLE",\n  "SecretAccessKey" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",\n  "Token" : "IQoJb3JpZ2luX2VjEXAMPLETOKEN",\n  "Expiration" : "2026-11-26T10:49:04Z"\n}')
w('metadata','imds_failure', '{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role","LastUpdated":"2026-11-26T04:32:44Z"}')
w('metadata','eks_fraction_offset', '{"AccessKeyId":"ASIA","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-26T05:02:44.123+00:00"}')
w('metadata','no_expiration', '{"AccessKeyId":"AKIA","SecretAccessKey":"s"}')
w('metadata','time_only', '2026-02-28T23:59:60.5z')

# profile: credentials NUL config
w('profile','default_keys', "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\x00[default]\nregion = us-east-1\noutput = json\n")
w('profile','dev_with_token', "# comment\n[default]\naws_access_key_id=A\n\n[dev]\naws_access_key_id = ASIADEV\naws_secret_access_key = devsecret\naws_session_token = FwoGZXIvYXdzEXAMPLE\n\x00[profile dev]\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 20\n")
w('profile','config_only', "\x00; comment\n[profile dev]\naws_access_key_id = AKIA\naws_secret_access_key = x\nregion=ap-south-1\n[default]\nregion = us-west-2\n")
w('profile','crlf_spaces', "[ default ]\r\naws_access_key_id\t=\tAKIA \r\naws_secret_access_key = s = t\r\n")

# put lines
w('put_line','text', '{"data":"hello world","partition_key":"k1"}')
w('put_line','b64_ehk', '{"data_b64":"AAECAwQF/w==","partition_key":"k","explicit_hash_key":"170141183460469231731687303715884105728"}')
w('put_line','unicode', '{"data":"caf\\u00e9 \\ud83d\\ude00","partition_key":"\\u65e5\\u672c"}')
w('put_line','both', '{"data":"x","data_b64":"eA=="}')
w('put_line','bad_b64', '{"data_b64":"!!!"}')
w('put_line','wrong_type', '{"data":"x","partition_key":5}')
w('put_line','array', '[1,2,3]')

def wd(name, blob): w('deagg', name, b'\x00' + blob)
# KPL aggregates, encoded here from the format (protocol.md section 6).
def varint(v):
    out = b''
    while True:
        b = v & 0x7f; v >>= 7
        if v: out += bytes([b|0x80])
        else: return out + bytes([b])
def ld(tag, payload): return bytes([tag]) + varint(len(payload)) + payload
def record(pk, data, ehk=None, tags=()):
    m = bytes([0x08]) + varint(pk)
    if ehk is not None: m += bytes([0x10]) + varint(ehk)
    m += ld(0x1a, data)
    for k, v in tags:
        t = ld(0x0a, k) + (ld(0x12, v) if v is not None else b'')
        m += ld(0x22, t)
    return m
def pbuf(pks, ehks, recs):
    return b''.join(ld(0x0a, k) for k in pks) + b''.join(ld(0x12, k) for k in ehks) + b''.join(ld(0x1a, r) for r in recs)
def agg(pks, ehks, recs):
    pb = b''.join(ld(0x0a, k) for k in pks) + b''.join(ld(0x12, k) for k in ehks) + b''.join(ld(0x1a, r) for r in recs)
    return b'\xf3\x89\x9a\xc2' + pb + hashlib.md5(pb).digest()
wd('two_records', agg([b'a', b'b'], [], [record(0, b'one'), record(1, b'two')]))
wd('ehk_and_shared_key', agg([b'pk'], [b'0', b'340282366920938463463374607431768211455'],
  [record(0, b'x', 0), record(0, b'', None), record(0, bytes(range(200)), 1)]))
wd('tags', agg([b'k'], [], [record(0, b'tagged', None, [(b'key', b'value'), (b'only', None)])]))
wd('empty_aggregate', agg([], [], []))
wd('unicode_key', agg(['日本語キー'.encode()], [], [record(0, b'data')]))
wd('many', agg([b'k%d' % i for i in range(40)], [], [record(i % 40, b'r%d' % i) for i in range(130)]))
good = agg([b'a'], [], [record(0, b'one')])
wd('bad_digest', good[:-1] + bytes([good[-1] ^ 1]))
wd('no_magic', b'plain record data')
wd('magic_only', b'\xf3\x89\x9a\xc2')
pb = ld(0x0a, b'a') + ld(0x1a, record(3, b'x'))
wd('index_out_of_table', b'\xf3\x89\x9a\xc2' + pb + hashlib.md5(pb).digest())
pb = bytes([0x0b, 0x08, 0x01, 0x0c]) + ld(0x0a, b'a') + ld(0x1a, record(0, b'x'))
wd('unknown_group', b'\xf3\x89\x9a\xc2' + pb + hashlib.md5(pb).digest())

# Protobuf only: the harness frames it with the magic and its digest.
w('deagg','pb_two_records', b'\x01' + pbuf([b'a', b'b'], [b'1'], [record(0, b'one', 0), record(1, b'two')]))
w('deagg','pb_tags_group', b'\x01' + bytes([0x0b, 0x08, 0x01, 0x0c]) + pbuf([b'k'], [], [record(0, b't', None, [(b'key', b'v')])]))
w('deagg','pb_empty', b'\x01')

# scanner_diff: the hot answers, compact and written the ways a server or
# proxy that pretty-prints writes them (white space between every token).
# Selector: 0 GetRecords, 2 ListShards, 1 + ((n - 1) << 2) PutRecords of n.
sd_get = {"Records": [
    {"SequenceNumber": seq1, "ApproximateArrivalTimestamp": 1700000000.123,
     "Data": "aGVsbG8=", "PartitionKey": "k", "EncryptionType": None},
    {"SequenceNumber": seq2, "ApproximateArrivalTimestamp": 1.5, "Data": "",
     "PartitionKey": "k\u00e9\n\"2"}],
  "NextShardIterator": "AAAAAAAAAAE=", "MillisBehindLatest": 0,
  "ChildShards": None}
sd_closed = {"Records": [], "MillisBehindLatest": 0, "ChildShards": [
    {"ShardId": "shardId-000000000002",
     "ParentShards": ["shardId-000000000000", "shardId-000000000001"],
     "HashKeyRange": {"StartingHashKey": "0",
                      "EndingHashKey": "340282366920938463463374607431768211455"}}]}
sd_put = {"FailedRecordCount": 1, "Records": [
    {"SequenceNumber": seq1, "ShardId": "shardId-000000000000"},
    {"ErrorCode": "ProvisionedThroughputExceededException",
     "ErrorMessage": "Rate exceeded for shard"}], "EncryptionType": "NONE"}
sd_list = {"Shards": [
    {"ShardId": "shardId-000000000000", "ParentShardId": None,
     "HashKeyRange": {"StartingHashKey": "0",
                      "EndingHashKey": "170141183460469231731687303715884105727"},
     "SequenceNumberRange": {"StartingSequenceNumber": seq1}},
    {"ShardId": "shardId-000000000001",
     "HashKeyRange": {"StartingHashKey": "170141183460469231731687303715884105728",
                      "EndingHashKey": "340282366920938463463374607431768211455"},
     "SequenceNumberRange": {"StartingSequenceNumber": seq1,
                             "EndingSequenceNumber": seq2}}],
  "NextToken": "tok"}
for name, sel, doc in (('get', 0, sd_get), ('get_closed', 0, sd_closed),
                       ('put', 1 + (1 << 2), sd_put), ('list', 2, sd_list)):
    for style, text in (
        ('compact', json.dumps(doc, separators=(',', ':'), ensure_ascii=False)),
        ('pretty', json.dumps(doc, indent=2, ensure_ascii=False)),
        ('tabs_crlf', json.dumps(doc, indent='\t').replace('\n', '\r\n')),
        ('spaced', json.dumps(doc, separators=(' , ', ' : ')))):
        w('scanner_diff', name + '_' + style, bytes([sel]) + text.encode())

# url: the endpoints and addresses the library is given, and a few it
# refuses or must show without their secrets.
for name, text in (
        ('kinesis', 'https://kinesis.eu-west-1.amazonaws.com/'),
        ('local_port', 'http://127.0.0.1:4567'),
        ('redis_full', 'redis://kn-user:p%40ss@redis.example:6380/2'),
        ('redis_password', 'redis://:secret@[::1]:6379'),
        ('redis_at_in_password', 'redis://us@er:p@ss@127.0.0.1:1'),
        ('container', 'http://169.254.170.2/v2/credentials/abc?x=1#f'),
        ('eks_ipv6', 'http://[fd00:ec2::23]/v1/credentials'),
        ('sso_portal', 'https://portal.sso.us-east-1.amazonaws.com'),
        ('upper_scheme', 'HTTPS://Host_x~y:00443/p'),
        ('backslash', 'http://127.0.0.1\\@evil.example/'),
        ('zone', 'http://[fe80::1%25eth0]:80/'),
        ('port_range', 'http://h:65536/'),
        ('no_scheme', 'user:secret@host/path?token=x')):
    w('url', name, text)

# serve_auth: a request as the fake service's front hands it on (METHOD,
# PATH, QUERY, headers, a blank line, the body; see fuzz_serve_auth.c),
# signed with the harness's key at its fixed time, 2026-12-07T12:00:00Z:
# one signed right, and one of each way a signature is refused.
import hmac
def sigv4(secret, date, region, method, path, query, headers, signed, body):
    canon_h = ''.join('%s:%s\n' % (n, dict(headers)[n]) for n in signed)
    canon = '\n'.join([method, path, query, canon_h, ';'.join(signed),
                       hashlib.sha256(body).hexdigest()])
    scope = '%s/%s/kinesis/aws4_request' % (date[:8], region)
    sts = '\n'.join(['AWS4-HMAC-SHA256', date, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ('AWS4' + secret).encode()
    for part in (date[:8], region, 'kinesis', 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
def signed_request(akid='AKIDFUZZEXAMPLE', secret='fuzz-secret-key',
                   date='20261207T120000Z', region='us-east-1',
                   scope_region=None, body=b'{}', extra=(), tamper=None,
                   drop=()):
    headers = [('content-type', 'application/x-amz-json-1.1'),
               ('host', '127.0.0.1:4567'), ('x-amz-date', date),
               ('x-amz-target', 'Kinesis_20131202.ListStreams')] + list(extra)
    signed = sorted(n for n, _ in headers)
    sig = sigv4(secret, date, region, 'POST', '/', '', headers, signed, body)
    if tamper: sig = tamper(sig)
    authz = ('AWS4-HMAC-SHA256 Credential=%s/%s/%s/kinesis/aws4_request, '
             'SignedHeaders=%s, Signature=%s' % (akid, date[:8],
             scope_region or region, ';'.join(signed), sig))
    headers = [h for h in headers if h[0] not in drop]
    lines = ['POST', '/', ''] + ['%s: %s' % h for h in headers]
    if 'authorization' not in drop:
        lines.append('authorization: ' + authz)
    return ('\n'.join(lines) + '\n\n').encode() + body
w('serve_auth', 'valid', signed_request())
w('serve_auth', 'valid_token', signed_request(
    extra=[('x-amz-security-token', 'FwoGZXIvYXdzEJr//////////token')]))
w('serve_auth', 'valid_other_key', signed_request(
    akid='AKIDOTHER', secret='another/secret+key',
    body=b'{"StreamName":"orders","Limit":10}'))
w('serve_auth', 'no_authorization', signed_request(drop=('authorization',)))
w('serve_auth', 'no_date', signed_request(drop=('x-amz-date',)))
w('serve_auth', 'unknown_key', signed_request(akid='AKIDNOBODY'))
w('serve_auth', 'wrong_secret', signed_request(secret='not-the-secret'))
w('serve_auth', 'bad_signature', signed_request(
    tamper=lambda s: s[:-1] + ('0' if s[-1] != '0' else '1')))
w('serve_auth', 'expired', signed_request(date='20261207T115000Z'))
w('serve_auth', 'other_region', signed_request(scope_region='eu-west-1'))
w('serve_auth', 'incomplete', b'POST\n/\n\nx-amz-date: 20261207T120000Z\n'
  b'authorization: AWS4-HMAC-SHA256 Credential=AKIDFUZZEXAMPLE/20261207\n\n{}')

# eventstream: a piece size, then event-stream bytes (fuzz_eventstream.c):
# the AWS SDK for Go's test messages (test/data/eventstream/), alone, run
# together, and cut short; and a SubscribeToShard exchange as Kinesis
# sends it (initial-response, an event, an exception).
import struct, zlib
es = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data',
                  'eventstream', 'encoded')
def es_message(headers, payload):
    hb = b''
    for name, value in headers:
        v = value.encode()
        hb += bytes([len(name)]) + name.encode() + b'\x07' + struct.pack('>H', len(v)) + v
    total = 16 + len(hb) + len(payload)
    pre = struct.pack('>II', total, len(hb))
    pre += struct.pack('>I', zlib.crc32(pre))
    body = pre + hb + payload
    return body + struct.pack('>I', zlib.crc32(body))
vectors = {}
for kind in ('positive', 'negative'):
    for name in sorted(os.listdir(os.path.join(es, kind))):
        vectors[kind + '_' + name] = open(os.path.join(es, kind, name), 'rb').read()
for name, blob in vectors.items():
    w('eventstream', name, b'\x00' + blob)
    w('eventstream', name + '_bytewise', b'\x01' + blob)
run = b''.join(v for k, v in vectors.items() if k.startswith('positive_'))
w('eventstream', 'run_together', b'\x07' + run)
w('eventstream', 'cut_short', b'\x05' + run[:-9])
event = json.dumps({"Records": [{"Data": "aGVsbG8=", "PartitionKey": "k",
    "SequenceNumber": seq1, "ApproximateArrivalTimestamp": 1459799926.48}],
    "ContinuationSequenceNumber": seq2, "MillisBehindLatest": 0}).encode()
w('eventstream', 'subscribe_to_shard', b'\x10' +
  es_message([(':message-type', 'event'), (':event-type', 'initial-response'),
              (':content-type', 'application/json')], b'{}') +
  es_message([(':message-type', 'event'),
              (':event-type', 'SubscribeToShardEvent'),
              (':content-type', 'application/json')], event) +
  es_message([(':message-type', 'exception'),
              (':exception-type', 'ResourceInUseException'),
              (':content-type', 'application/json')],
             b'{"message":"Another active subscription exists"}'))
