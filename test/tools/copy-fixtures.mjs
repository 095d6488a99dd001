#!/usr/bin/env node
/**
 * Refreshes the repository's copy of the test data from a `shared/` folder (the project's upstream
 * fixtures, generated outside the repository):
 *
 *   node test/tools/copy-fixtures.mjs [SHARED_DIR]      (default: the shared/ folder beside the checkout)
 *
 * shared/fixtures -> test/fixtures. shared/data/bert-base-uncased-tokenizer holds the same four files as
 * shared/fixtures/tokenizer/bert-base-uncased (checked here), so only its SOURCE.md is added there.
 * Everything is copied byte for byte except the float64 reference tensors (golden.safetensors,
 * training grad_*.safetensors and trajectory_*.safetensors), whose tensors of 64 or more values are
 * stored as float32: every test compares them with tolerances of 1e-6 x the largest value or more,
 * and float32 rounding moves a value by at most 6e-8 of itself. Smaller tensors (losses, learning
 * rates a test compares exactly), inputs (I64) and model weights are never converted. Run it again
 * whenever shared/ changes, and commit the result with PROVENANCE.md.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = resolve(process.argv[2] ?? join(repo, '..', 'shared'));
const fixtures = join(repo, 'test', 'fixtures');
const tokenizerData = join(shared, 'data', 'bert-base-uncased-tokenizer');
const tokenizerCopy = join(fixtures, 'tokenizer', 'bert-base-uncased');
const reference = /^(golden|grad_.*|trajectory_.*)\.safetensors$/;

/** A safetensors file with every F64 tensor rewritten as F32 (header re-laid-out, 8-byte aligned). */
function f64ToF32(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  // Keep the original data order so the file stays diffable against its source.
  names.sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
  const parts = [];
  let offset = 0;
  const out = header.__metadata__ ? { __metadata__: header.__metadata__ } : {};
  for (const name of names) {
    const t = header[name];
    const [b, e] = t.data_offsets;
    let bytes = data.subarray(b, e);
    let dtype = t.dtype;
    if (dtype === 'F64' && bytes.length >= 64 * 8) {
      const f32 = Buffer.alloc(bytes.length / 2);
      for (let i = 0; i * 8 < bytes.length; i++) f32.writeFloatLE(bytes.readDoubleLE(i * 8), i * 4);
      bytes = f32;
      dtype = 'F32';
    }
    out[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = Buffer.from(JSON.stringify(out), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...parts]);
}

const manifest = [];
function copyTree(src, dst) {
  mkdirSync(dst, { recursive: true });
  for (const name of readdirSync(src).sort()) {
    const s = join(src, name);
    const d = join(dst, name);
    if (statSync(s).isDirectory()) {
      copyTree(s, d);
      continue;
    }
    const srcBytes = readFileSync(s);
    const sha = createHash('sha256').update(srcBytes).digest('hex').slice(0, 16);
    if (reference.test(name)) {
      writeFileSync(d, f64ToF32(srcBytes));
      manifest.push(`${relative(repo, d)}  from sha256:${sha}  (F64 tensors stored as F32)`);
    } else {
      copyFileSync(s, d);
      manifest.push(`${relative(repo, d)}  sha256:${sha}`);
    }
  }
}

statSync(join(shared, 'fixtures')); // a clear ENOENT naming the source when shared/ is not there
rmSync(fixtures, { recursive: true, force: true });
copyTree(join(shared, 'fixtures'), fixtures);
for (const name of readdirSync(tokenizerData)) {
  if (name === 'SOURCE.md') continue;
  if (!readFileSync(join(tokenizerData, name)).equals(readFileSync(join(tokenizerCopy, name)))) {
    throw new Error(`${join(tokenizerData, name)} differs from the fixture copy: copy that folder separately`);
  }
}
copyFileSync(join(tokenizerData, 'SOURCE.md'), join(tokenizerCopy, 'SOURCE.md'));
manifest.push(`${relative(repo, join(tokenizerCopy, 'SOURCE.md'))}  (shared/data/bert-base-uncased-tokenizer/SOURCE.md; that folder's other files are these)`);
writeFileSync(
  join(repo, 'test', 'fixtures', 'PROVENANCE.md'),
  [
    '# Provenance of this copy',
    '',
    'Copied from the project\'s upstream `shared/fixtures` by `node test/tools/copy-fixtures.mjs`, plus the',
    '`SOURCE.md` of `shared/data/bert-base-uncased-tokenizer` (its other files are those of',
    '`tokenizer/bert-base-uncased`); never edit these files by hand, re-run the script.',
    'Every file is byte-identical to its source except the float64 reference tensors (golden.safetensors,',
    'grad_*.safetensors, trajectory_*.safetensors): those of 64 or more values are stored here as float32 (relative rounding <= 6e-8, far',
    'below every tolerance the tests use: 5e-5 absolute for outputs, 1e-6 x the largest gradient for',
    'gradients, 5e-6 for optimizer states). The READMEs beside the data describe the originals.',
    '',
    'Source file hashes (first 16 hex digits of sha256 of the upstream file):',
    '',
    '```',
    ...manifest,
    '```',
    '',
  ].join('\n'),
);
console.log(`copied ${manifest.length} files from ${shared}`);
