/**
 * Hub downloads against a fake Hub on 127.0.0.1 (test/helpers/fake-hub.ts): the Hugging Face
 * cache layout, weight-format fallback, tokens, resuming, integrity, sharing, offline mode.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BertError, HubError, InvalidFileError, InvalidInputError, loadModel, loadTokenizer, pipeline } from '../src-ts/index.js';
import { downloadModel, resolveModel, type HubProgress } from '../src-ts/hub/index.js';
import { linkBlob } from '../src-ts/hub/cache.js';
import { HttpStatusError } from '../src-ts/hub/http.js';
import { fixture } from './helpers/fixtures.js';
import { repoFromFolder, sha256, shardSafetensors, startFakeHub, type FakeHub, type FakeRepo } from './helpers/fake-hub.js';

// Nothing from the machine's own Hugging Face set-up may leak in.
const tmp = mkdtempSync(join(tmpdir(), 'bertkit-hub-'));
for (const name of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_ENDPOINT', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_TOKEN_PATH']) {
  delete process.env[name];
}
process.env.HF_HOME = join(tmp, 'hf-home');

const model = repoFromFolder(fixture('tiny-bert-model'));
const preBin = repoFromFolder(fixture('tiny-bert-pretraining-bin'));
const repos: FakeRepo[] = [
  { id: 'test-org/tiny-bert', files: model, refs: { v1: 'a'.repeat(40) } },
  { id: 'test-org/sharded', files: shardSafetensors(model) },
  // Lists model.safetensors, which answers 404: the .bin must be used instead.
  { id: 'test-org/stale-listing', files: new Map([...preBin, ['model.safetensors', Buffer.from('x')]]), broken: new Set(['model.safetensors']) },
  { id: 'test-org/private', files: model, token: 'hf_secret' },
  { id: 'test-org/st-mean', files: repoFromFolder(fixture('pipelines', 'st-tiny-bert-model-mean')) },
  { id: 'test-org/no-weights', files: new Map([['config.json', model.get('config.json')!]]) },
];
for (let i = 0; i < 8; i++) repos.push({ id: `test-org/copy-${i}`, files: model });

test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function cacheDir(): string {
  return join(tmp, `cache-${n++}`);
}
/** A fake Hub of this test's own (its request log and cuts are not shared with other tests). */
async function fakeHub(t: ExecutionContext): Promise<FakeHub> {
  const hub = await startFakeHub(repos);
  t.teardown(() => hub.close());
  return hub;
}
function requests(hub: FakeHub, from = 0) {
  return hub.log.slice(from);
}

test('a repository lands in the Hugging Face cache layout and loads', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const progress: HubProgress[] = [];
  const dir = await downloadModel('test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint, onProgress: (p) => progress.push(p) });
  const commit = hub.commitOf('test-org/tiny-bert');
  const root = join(cache, 'models--test-org--tiny-bert');
  t.is(dir, join(root, 'snapshots', commit));
  t.is(readFileSync(join(root, 'refs', 'main'), 'utf8'), commit);
  t.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']);
  // Relative symlinks into blobs/: sha256 for LFS files, the git blob sha1 for the others.
  const weights = join(dir, 'model.safetensors');
  t.true(lstatSync(weights).isSymbolicLink());
  t.is(readlinkSync(weights), `../../blobs/${sha256(model.get('model.safetensors')!)}`);
  t.regex(readlinkSync(join(dir, 'config.json')), /^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
  for (const f of readdirSync(dir)) t.deepEqual(readFileSync(join(dir, f)), model.get(f)!, f);
  t.false(readdirSync(join(root, 'blobs')).some((f) => f.endsWith('.incomplete')));

  const total = [...model].filter(([f]) => !f.startsWith('golden')).reduce((s, [, b]) => s + b.length, 0);
  t.is(progress.at(-1)!.total, total);
  t.is(progress.at(-1)!.loaded, total);
  t.true(progress.some((p) => p.file === 'model.safetensors' && p.fileTotal === model.get('model.safetensors')!.length));

  await using m = await loadModel(dir, { device: 'cpu' });
  await using ref = await loadModel(fixture('tiny-bert-model'), { device: 'cpu' });
  const ids = { inputIds: [[101, 7, 8, 102]] };
  t.deepEqual((await m.forward(ids)).lastHiddenState.data, (await ref.forward(ids)).lastHiddenState.data);
  t.truthy(m.tokenizer);

  // Again: one API call for the commit, no file requests.
  const from = hub.log.length;
  t.is(await downloadModel('test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint }), dir);
  t.deepEqual(
    requests(hub, from).map((r) => r.path),
    ['/api/models/test-org/tiny-bert/revision/main'],
  );
});

test('offline: the cached snapshot, without a single request; a model never downloaded is an error', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const dir = await downloadModel('test-org/copy-0', { cacheDir: cache, endpoint: hub.endpoint });
  const from = hub.log.length;
  t.is(await resolveModel('test-org/copy-0', { cacheDir: cache, endpoint: hub.endpoint, localFilesOnly: true }), dir);
  const err = await t.throwsAsync(resolveModel('test-org/copy-1', { cacheDir: cache, endpoint: hub.endpoint, localFilesOnly: true }), {
    instanceOf: InvalidFileError,
  });
  t.regex(err!.message, /not in the Hugging Face cache.*localFilesOnly/);
  // A commit given as the revision resolves from the cache too.
  t.is(await resolveModel('test-org/copy-0', { cacheDir: cache, revision: hub.commitOf('test-org/copy-0'), localFilesOnly: true }), dir);
  t.is(hub.log.length, from);
  await using m = await loadModel(dir, { device: 'cpu' });
  t.is(m.architecture, 'BertModel');
});

test.serial('HF_HUB_OFFLINE=1 and HF_HUB_CACHE / HF_ENDPOINT from the environment', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_ENDPOINT = `${hub.endpoint}/`;
  try {
    const dir = await resolveModel('test-org/copy-2');
    t.true(dir.startsWith(join(cache, 'models--test-org--copy-2', 'snapshots')));
    process.env.HF_HUB_OFFLINE = '1';
    const from = hub.log.length;
    t.is(await resolveModel('test-org/copy-2'), dir);
    await t.throwsAsync(resolveModel('test-org/copy-3'), { instanceOf: InvalidFileError, message: /HF_HUB_OFFLINE/ });
    t.is(hub.log.length, from);
  } finally {
    delete process.env.HF_HUB_CACHE;
    delete process.env.HF_ENDPOINT;
    delete process.env.HF_HUB_OFFLINE;
  }
});

test('a weights file that answers 404 falls back to the next format', async (t) => {
  const hub = await fakeHub(t);
  const dir = await downloadModel('test-org/stale-listing', { cacheDir: cacheDir(), endpoint: hub.endpoint });
  t.false(existsSync(join(dir, 'model.safetensors')));
  t.true(existsSync(join(dir, 'pytorch_model.bin')));
  await using m = await loadModel(dir, { device: 'cpu' });
  t.is(m.weights.format, 'pytorch');
});

test('sharded safetensors: the index and every shard', async (t) => {
  const hub = await fakeHub(t);
  const dir = await downloadModel('test-org/sharded', { cacheDir: cacheDir(), endpoint: hub.endpoint });
  t.true(existsSync(join(dir, 'model.safetensors.index.json')));
  t.true(existsSync(join(dir, 'model-00001-of-00002.safetensors')));
  t.true(existsSync(join(dir, 'model-00002-of-00002.safetensors')));
  await using m = await loadModel(dir, { device: 'cpu' });
  await using ref = await loadModel(fixture('tiny-bert-model'), { device: 'cpu' });
  t.is(m.weights.files.length, 3);
  const ids = { inputIds: [[101, 9, 102]] };
  t.deepEqual((await m.forward(ids)).poolerOutput!.data, (await ref.forward(ids)).poolerOutput!.data);
});

test('sentence-transformers files: modules.json and the module folders it names', async (t) => {
  const hub = await fakeHub(t);
  const dir = await downloadModel('test-org/st-mean', { cacheDir: cacheDir(), endpoint: hub.endpoint });
  for (const f of ['modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', 'model.safetensors', 'tokenizer.json']) {
    t.true(existsSync(join(dir, f)), f);
  }
  t.is(readlinkSync(join(dir, '1_Pooling', 'config.json')).split('/').filter((p) => p === '..').length, 3);
  t.false(existsSync(join(dir, '2_Normalize', 'README.md')), 'only what sentence-transformers reads');
});

test('a private repository: 401 without a token, the token goes to the Hub but not to the CDN', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const err = await t.throwsAsync(downloadModel('test-org/private', { cacheDir: cache, endpoint: hub.endpoint }), { instanceOf: HubError });
  t.regex(err!.message, /401.*token/);
  t.is(err!.code, 'ERR_HUB');
  t.is(err!.status, 401);
  t.true(err!.cause instanceof HttpStatusError);
  t.false(existsSync(join(cache, 'models--test-org--private', 'refs')));
  // A token that was sent and refused is not told to "pass a token".
  const refused = await t.throwsAsync(downloadModel('test-org/private', { cacheDir: cache, endpoint: hub.endpoint, token: 'hf_wrong' }), { instanceOf: HubError });
  t.is(refused!.status, 401);
  t.regex(refused!.message, /token sent was refused/);
  t.notRegex(refused!.message, /pass a token/);

  const from = hub.log.length;
  const dir = await downloadModel('test-org/private', { cacheDir: cache, endpoint: hub.endpoint, token: 'hf_secret' });
  t.true(existsSync(join(dir, 'model.safetensors')));
  const log = requests(hub, from);
  t.true(log.filter((r) => r.server === 'hub').every((r) => r.authorization === 'Bearer hf_secret'));
  const cdn = log.filter((r) => r.server === 'cdn');
  t.is(cdn.length, 1);
  t.is(cdn[0]!.authorization, undefined);
});

test('HF_TOKEN is the default token', async (t) => {
  const hub = await fakeHub(t);
  // Read at call time; set and cleared within one synchronous stretch of this test.
  process.env.HF_TOKEN = 'hf_secret';
  const pending = downloadModel('test-org/private', { cacheDir: cacheDir(), endpoint: hub.endpoint });
  delete process.env.HF_TOKEN;
  t.true(existsSync(join(await pending, 'config.json')));
});

test('unknown repository or revision: typed errors with the status', async (t) => {
  const hub = await fakeHub(t);
  const e1 = await t.throwsAsync(resolveModel('test-org/nope', { cacheDir: cacheDir(), endpoint: hub.endpoint }), { instanceOf: HubError });
  t.is(e1!.status, 401);
  const e2 = await t.throwsAsync(downloadModel('test-org/tiny-bert', { cacheDir: cacheDir(), endpoint: hub.endpoint, revision: 'v9' }), {
    instanceOf: HubError,
  });
  t.is(e2!.status, 404);
  t.is(e2!.errorCode, 'RevisionNotFound');
  await t.throwsAsync(downloadModel('test-org/no-weights', { cacheDir: cacheDir(), endpoint: hub.endpoint }), {
    instanceOf: InvalidFileError,
    message: /no weights/,
  });
});

test('a tag is resolved to its commit and recorded in refs/', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const dir = await downloadModel('test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint, revision: 'v1' });
  t.is(dir, join(cache, 'models--test-org--tiny-bert', 'snapshots', 'a'.repeat(40)));
  t.is(readFileSync(join(cache, 'models--test-org--tiny-bert', 'refs', 'v1'), 'utf8'), 'a'.repeat(40));
  t.is(await resolveModel('test-org/tiny-bert', { cacheDir: cache, revision: 'v1', localFilesOnly: true }), dir);
});

test('a transfer cut short is resumed with a Range request', async (t) => {
  const hub = await fakeHub(t);
  hub.cut('model.safetensors', 100_000, 1);
  const from = hub.log.length;
  // copy-4 has its own cache, so its model.safetensors is transferred (and cut) here.
  const dir = await downloadModel('test-org/copy-4', { cacheDir: cacheDir(), endpoint: hub.endpoint });
  t.deepEqual(readFileSync(join(dir, 'model.safetensors')), model.get('model.safetensors')!);
  const cdn = requests(hub, from).filter((r) => r.server === 'cdn');
  t.is(cdn.length, 2);
  t.is(cdn[0]!.range, undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(cdn[1]!.range ?? '')?.[1]);
  t.true(resumedAt > 0 && resumedAt <= 100_000, cdn[1]!.range);
});

test.serial('a killed download leaves nothing that loads; the next run resumes it', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const root = join(cache, 'models--test-org--copy-5');
  hub.cut('model.safetensors', 50_000, 5); // every try of the first run
  await t.throwsAsync(downloadModel('test-org/copy-5', { cacheDir: cache, endpoint: hub.endpoint }), { instanceOf: BertError, message: /model\.safetensors/ });
  const blobs = readdirSync(join(root, 'blobs'));
  const partial = blobs.find((f) => f.endsWith('.incomplete'))!;
  // Up to 5 x 50 000 bytes (the last bytes before a cut connection may never reach the client).
  const have = readFileSync(join(root, 'blobs', partial)).length;
  t.true(have > 0 && have <= 250_000, String(have));
  // No weights in the snapshot, no ref: offline there is nothing, and the folder does not load.
  t.false(existsSync(join(root, 'refs', 'main')));
  const snap = join(root, 'snapshots', hub.commitOf('test-org/copy-5'));
  t.false(existsSync(join(snap, 'model.safetensors')));
  // Either the snapshot folder was never made or it has no weights: it must not load.
  await t.throwsAsync(loadModel(snap), { instanceOf: BertError, message: /no such folder|no weights/ });
  await t.throwsAsync(resolveModel('test-org/copy-5', { cacheDir: cache, localFilesOnly: true }), { instanceOf: InvalidFileError });

  const from = hub.log.length;
  const dir = await downloadModel('test-org/copy-5', { cacheDir: cache, endpoint: hub.endpoint });
  t.deepEqual(
    requests(hub, from)
      .filter((r) => r.server === 'cdn')
      .map((r) => r.range),
    [`bytes=${have}-`],
  );
  t.deepEqual(readFileSync(join(dir, 'model.safetensors')), model.get('model.safetensors')!);
});

test('a resumed file that does not match the sha256 is deleted, never linked', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const blobs = join(cache, 'models--test-org--copy-6', 'blobs');
  mkdirSync(blobs, { recursive: true });
  const incomplete = join(blobs, `${sha256(model.get('model.safetensors')!)}.incomplete`);
  writeFileSync(incomplete, Buffer.alloc(4096, 7)); // not the file's first bytes
  const err = await t.throwsAsync(downloadModel('test-org/copy-6', { cacheDir: cache, endpoint: hub.endpoint }), { instanceOf: InvalidFileError });
  t.regex(err!.message, /sha256/);
  t.false(existsSync(incomplete));
  t.false(existsSync(join(blobs, sha256(model.get('model.safetensors')!))));
  // Nothing is left to get in the way: the next run downloads it whole.
  const dir = await downloadModel('test-org/copy-6', { cacheDir: cache, endpoint: hub.endpoint });
  t.deepEqual(readFileSync(join(dir, 'model.safetensors')), model.get('model.safetensors')!);
});

test('concurrent callers share one download', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const from = hub.log.length;
  const seen: number[] = [0, 0];
  const dirs = await Promise.all([
    downloadModel('test-org/copy-7', { cacheDir: cache, endpoint: hub.endpoint, onProgress: () => seen[0]!++ }),
    resolveModel('test-org/copy-7', { cacheDir: cache, endpoint: hub.endpoint, onProgress: () => seen[1]!++ }),
    downloadModel('test-org/copy-7', { cacheDir: cache, endpoint: hub.endpoint }),
  ]);
  t.is(new Set(dirs).size, 1);
  const log = requests(hub, from);
  t.is(log.filter((r) => r.path.startsWith('/api/')).length, 1);
  t.is(log.filter((r) => r.server === 'cdn').length, 1);
  t.true(seen[0]! > 0 && seen[0] === seen[1], 'every caller sees the progress');
});

test('no answer from the Hub: the cached snapshot is used; without one, a BertError', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  const dir = await downloadModel('test-org/copy-0', { cacheDir: cache, endpoint: hub.endpoint });
  const dead = await startFakeHub([]);
  const endpoint = dead.endpoint;
  await dead.close();
  t.is(await downloadModel('test-org/copy-0', { cacheDir: cache, endpoint }), dir);
  const err = await t.throwsAsync(downloadModel('test-org/copy-1', { cacheDir: cache, endpoint }), { instanceOf: BertError });
  t.regex(err!.message, /cannot reach/);
});

test('resolveModel: folders as they are; files, bad ids and missing paths are input errors', async (t) => {
  const folder = fixture('tiny-bert-model');
  t.is(await resolveModel(folder), folder);
  await t.throwsAsync(resolveModel(join(folder, 'config.json')), { instanceOf: InvalidInputError, message: /is a file/ });
  await t.throwsAsync(resolveModel('./no/such/folder'), { instanceOf: InvalidInputError, message: /no such folder/ });
  await t.throwsAsync(resolveModel('/abs/nowhere'), { instanceOf: InvalidInputError });
  await t.throwsAsync(resolveModel(''), { instanceOf: InvalidInputError });
  await t.throwsAsync(downloadModel('a--b/c', {}), { instanceOf: InvalidInputError });
  await t.throwsAsync(downloadModel('test-org/tiny-bert', { revision: '../../x' }), { instanceOf: InvalidInputError });
});

test('where symlinks are refused, snapshot files are copies', async (t) => {
  const dir = join(tmp, 'link');
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  writeFileSync(join(dir, 'blobs', 'abc'), 'content');
  await linkBlob(join(dir, 'blobs', 'abc'), join(dir, 'snapshots', 'c', 'sub', 'f.json'), { symlinks: false });
  const target = join(dir, 'snapshots', 'c', 'sub', 'f.json');
  t.false(lstatSync(target).isSymbolicLink());
  t.is(readFileSync(target, 'utf8'), 'content');
  await linkBlob(join(dir, 'blobs', 'abc'), target); // replaces it with a link
  t.is(readlinkSync(target), '../../../blobs/abc');
});

test('loadModel, loadTokenizer and pipeline take a Hub id; a model downloaded once loads with HF_HUB_OFFLINE=1', async (t) => {
  const hub = await fakeHub(t);
  const cache = cacheDir();
  await using model = await loadModel('test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint, device: 'cpu' });
  t.is(model.architecture, 'BertModel');
  t.truthy(model.tokenizer);
  const tok = await loadTokenizer('test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint });
  t.deepEqual(Array.from(tok.encode('the').ids.slice(0, 1)), [101]);
  const fe = await pipeline('feature-extraction', 'test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint, device: 'cpu' });
  const online = await fe('the cat');
  await fe.dispose();
  const before = hub.log.length;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    await using offline = await loadModel('test-org/tiny-bert', { cacheDir: cache, endpoint: hub.endpoint, device: 'cpu' });
    const out = await offline.forward(offline.tokenizer!.encodeBatch(['the cat']));
    // feature-extraction gives [1][seqLen] rows of typed arrays.
    const rows = (online as unknown as ArrayLike<number>[][])[0]!;
    t.deepEqual(Array.from(out.lastHiddenState.data), rows.flatMap((r) => Array.from(r)));
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  t.is(hub.log.length, before, 'offline loads make no request');
});
