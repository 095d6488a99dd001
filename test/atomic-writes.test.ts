/**
 * Writes that cannot corrupt (util/atomic-file.ts): an ENOSPC / EIO injected at every write, a
 * failing fsync or rename, and a process SIGKILLed while it saves, leave either the old complete
 * files or the new complete ones, never a partial file that loads; the same for trainer
 * checkpoint folders and for Hub downloads interrupted at any byte.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import fsp, { open, type FileHandle } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BertError, FileSystemError, loadModel } from '../src-ts/index.js';
import { downloadModel } from '../src-ts/hub/index.js';
import { createTrainer, fit, type TrainableBertModel } from '../src-ts/training/index.js';
import { isTempName, writeFileAtomic } from '../src-ts/util/atomic-file.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { repoFromFolder, sha256, startFakeHub } from './helpers/fake-hub.js';

const tmp = mkdtempSync(join(tmpdir(), 'bertkit-atomic-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const folder = () => join(tmp, `d${n++}`);
const SEQCLS = () => fixture('tiny-bert-seqcls');

// FileHandle is not exported; its prototype is reached through an open handle. Patching it (and
// fs/promises' rename, synced into the ESM bindings) fails the real write path, with no test hook
// in the library. Every test that injects runs serially and restores what it patched.
type Patchable = Record<'write' | 'writeFile' | 'sync', (...a: unknown[]) => Promise<unknown>>;
let handleProto: Patchable;
test.before(async () => {
  const fh = await open(join(repoRoot, 'package.json'), 'r');
  await fh.close();
  handleProto = Object.getPrototypeOf(fh) as Patchable;
});

function sysError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected failure`), { code, errno: -1, syscall: 'write' });
}

/** Makes the `at`-th call (1-based) of the given FileHandle methods fail with `code`; returns the undo and the call count. */
function failNth(methods: ('write' | 'writeFile' | 'sync')[], at: number, code: string) {
  const saved = methods.map((m) => [m, handleProto[m]] as const);
  const state = { calls: 0, failed: false };
  for (const [m, orig] of saved) {
    handleProto[m] = function (this: FileHandle, ...args: unknown[]) {
      if (++state.calls === at) {
        state.failed = true;
        return Promise.reject(sysError(code));
      }
      return orig.apply(this, args);
    };
  }
  return {
    state,
    undo: () => {
      for (const [m, orig] of saved) handleProto[m] = orig;
    },
  };
}

function tempLeftovers(dir: string): string[] {
  return readdirSync(dir).filter(isTempName);
}

async function trainable(dir = SEQCLS()): Promise<TrainableBertModel> {
  const m = (await loadModel(dir, { training: true, threads: 1, device: 'cpu' })) as TrainableBertModel;
  m.setDropout({ hidden: 0, attention: 0, classifier: 0 });
  return m;
}

const batch = { inputIds: [[101, 7, 8, 9, 102]], attentionMask: [[1, 1, 1, 1, 1]] };

test.serial('writeFileAtomic: a write, fsync or rename that fails leaves the old file, no temporary, and a FileSystemError', async (t) => {
  const dir = folder();
  const file = join(dir, 'a.json');
  await writeFileAtomic(file, 'old');
  for (const [methods, code] of [[['writeFile'], 'ENOSPC'], [['sync'], 'EIO']] as const) {
    const inj = failNth([...methods], 1, code);
    try {
      const err = await t.throwsAsync(writeFileAtomic(file, 'new'), { instanceOf: FileSystemError });
      t.is(err!.code, 'ERR_FS');
      t.is((err!.cause as NodeJS.ErrnoException).code, code);
      t.is(err!.path, file);
    } finally {
      inj.undo();
    }
    t.is(readFileSync(file, 'utf8'), 'old');
    t.deepEqual(tempLeftovers(dir), []);
  }
  const rename = fsp.rename;
  fsp.rename = () => Promise.reject(sysError('EIO'));
  syncBuiltinESMExports();
  try {
    await t.throwsAsync(writeFileAtomic(file, 'new'), { instanceOf: FileSystemError });
  } finally {
    fsp.rename = rename;
    syncBuiltinESMExports();
  }
  t.is(readFileSync(file, 'utf8'), 'old');
  t.deepEqual(tempLeftovers(dir), []);
  await writeFileAtomic(file, 'new');
  t.is(readFileSync(file, 'utf8'), 'new');
});

test.serial('model.save: ENOSPC or EIO at any write leaves every file old or new, whole, and the folder loads', async (t) => {
  const dir = folder();
  const model = await trainable();
  t.teardown(() => model.dispose());
  // Outputs of the folders as the inference engine loads them (the reference for 'old' and 'new').
  const logitsOf = async (d: string) => {
    const m = await loadModel(d, { threads: 1, device: 'cpu' });
    const out = (await m.forward(batch)).logits!.data;
    await m.dispose();
    return out;
  };
  await model.save(dir);
  const oldFiles = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
  const oldLogits = await logitsOf(dir);
  const trainer = createTrainer(model, { learningRate: 1e-2, totalSteps: 1 });
  await trainer.step(batch, { labels: [1] });
  const newDir = folder();
  await model.save(newDir);
  const newLogits = await logitsOf(newDir);
  t.notDeepEqual(newLogits, oldLogits);

  // How many writes and fsyncs a save makes, then a failure at a spread of them (every one would
  // be one per tensor: hundreds of reloads).
  const count = failNth(['write', 'writeFile', 'sync'], 0, 'EIO');
  await model.save(folder()).finally(count.undo);
  const total = count.state.calls;
  t.true(total > 5, `a save made ${total} writes`);
  const points = new Set([1, 2, 3, total - 2, total - 1, total]);
  for (let k = 1; k <= 8; k++) points.add(Math.ceil((k * total) / 9));
  for (const at of [...points].sort((a, b) => a - b)) {
    const inj = failNth(['write', 'writeFile', 'sync'], at, at % 2 ? 'ENOSPC' : 'EIO');
    const err = await model.save(dir).then(() => undefined, (e: unknown) => e).finally(inj.undo);
    t.true(inj.state.failed, `write ${at}`);
    t.true(err instanceof FileSystemError, `write ${at}: ${String(err)}`);
    t.deepEqual(tempLeftovers(dir), [], `write ${at}`);
    // Each file is the old one or the new one, whole (a failure after the weights' rename leaves
    // the new weights); config and tokenizer files are the same in both states here.
    for (const [f, bytes] of oldFiles) {
      const now = readFileSync(join(dir, f));
      t.true(now.equals(bytes) || now.equals(readFileSync(join(newDir, f))), `write ${at}: ${f} is neither old nor new`);
    }
    const weightsNew = readFileSync(join(dir, 'model.safetensors')).equals(readFileSync(join(newDir, 'model.safetensors')));
    t.deepEqual(await logitsOf(dir), weightsNew ? newLogits : oldLogits, `write ${at}`);
  }
  await model.save(dir);
  t.deepEqual(await logitsOf(dir), newLogits);
});

test.serial('a checkpoint that fails half-way leaves no checkpoint folder', async (t) => {
  const out = folder();
  const model = await trainable();
  t.teardown(() => model.dispose());
  const train = [
    { inputIds: [101, 7, 8, 102], label: 0 },
    { inputIds: [101, 9, 10, 102], label: 1 },
  ];
  const inj = failNth(['write'], 3, 'ENOSPC'); // inside model.safetensors of the first checkpoint
  try {
    await t.throwsAsync(fit(model, { train, outputDir: out, batchSize: 2, epochs: 1, learningRate: 1e-3 }), { instanceOf: FileSystemError });
  } finally {
    inj.undo();
  }
  t.true(inj.state.failed);
  t.deepEqual(readdirSync(out).filter((f) => f.includes('checkpoint')), []);
  const r = await fit(model, { train, outputDir: out, batchSize: 2, epochs: 1, learningRate: 1e-3 });
  t.is(r.globalStep, 1);
  const ckpt = join(out, 'checkpoint-1');
  t.deepEqual(readdirSync(out).filter((f) => f.includes('checkpoint')), ['checkpoint-1']);
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json', 'log.json']) t.true(existsSync(join(ckpt, f)), f);
  await (await loadModel(ckpt, { threads: 1, device: 'cpu' })).dispose();
});

test.serial('a process SIGKILLed while it rewrites a model folder leaves the old or the new model, complete', async (t) => {
  const base = folder();
  mkdirSync(base);
  const [refA, refB, target] = ['a', 'b', 'target'].map((f) => join(base, f)) as [string, string, string];
  let mixed = 0;
  for (let i = 0; i < 6; i++) {
    const child = spawn(process.execPath, ['--import=tsx', join(repoRoot, 'test', 'helpers', 'save-loop.ts'), SEQCLS(), refA, refB, target], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [first] = (await once(child.stdout!, 'data')) as [Buffer];
    t.is(first.toString().trim(), 'ready');
    // Different moments in the save cycle on each round (a save of this model takes a few ms).
    await new Promise((r) => setTimeout(r, 5 + ((i * 37) % 90)));
    child.kill('SIGKILL');
    await once(child, 'exit');
    const files = readdirSync(target).filter((f) => !isTempName(f));
    for (const f of files) {
      const now = readFileSync(join(target, f));
      const a = readFileSync(join(refA, f));
      const b = readFileSync(join(refB, f));
      t.true(now.equals(a) || now.equals(b), `round ${i}: ${f} is neither the old nor the new file (${now.length} bytes)`);
      if (!now.equals(a)) mixed++;
    }
    t.deepEqual(files.sort(), readdirSync(refA).sort());
    await (await loadModel(target, { threads: 1, device: 'cpu' })).dispose();
  }
  t.log(`${mixed} file(s) held the new state when killed`);
});

test.serial('a Hub download interrupted at any byte resumes to the exact file, never links a partial one', async (t) => {
  const files = repoFromFolder(fixture('tiny-bert-model'));
  const hub = await startFakeHub([{ id: 'test-org/tiny', files }]);
  t.teardown(() => hub.close());
  const weights = files.get('model.safetensors')!;
  const blobName = sha256(weights);
  const cache = folder();
  const dir = await downloadModel('test-org/tiny', { cacheDir: cache, endpoint: hub.endpoint });
  const blob = join(cache, 'models--test-org--tiny', 'blobs', blobName);
  // What a process killed at byte k leaves: the first k bytes in <blob>.incomplete, nothing linked.
  for (const k of [0, 1, 9, Math.floor(weights.length / 2), weights.length - 1, weights.length]) {
    rmSync(blob);
    rmSync(join(dir, 'model.safetensors'));
    writeFileSync(`${blob}.incomplete`, weights.subarray(0, k));
    await t.throwsAsync(loadModel(dir), { instanceOf: BertError }, `byte ${k}: the snapshot without its weights does not load`);
    const again = await downloadModel('test-org/tiny', { cacheDir: cache, endpoint: hub.endpoint });
    t.deepEqual(readFileSync(join(again, 'model.safetensors')), weights, `byte ${k}`);
    t.false(existsSync(`${blob}.incomplete`), `byte ${k}`);
  }
  // Garbage of the right length (not a prefix of the file) is caught by the sha256 and restarted.
  rmSync(blob);
  rmSync(join(dir, 'model.safetensors'));
  writeFileSync(`${blob}.incomplete`, Buffer.alloc(weights.length, 1));
  await t.throwsAsync(downloadModel('test-org/tiny', { cacheDir: cache, endpoint: hub.endpoint }), { instanceOf: BertError, message: /sha256/ });
  const again = await downloadModel('test-org/tiny', { cacheDir: cache, endpoint: hub.endpoint });
  t.deepEqual(readFileSync(join(again, 'model.safetensors')), weights);
});
