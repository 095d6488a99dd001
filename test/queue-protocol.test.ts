/**
 * What travels through the queue, without Redis: vectors as base64 float32 (exact) or float16
 * (nearest half, ties to even, checked against an exhaustive table of every half value), job ids,
 * and a worker's error carried in the failedReason and read back as a JobFailedError.
 */
import test from 'ava';
import { JobFailedError } from '../src-ts/index.js';
import { decodeVectors, encodeVectors, failedReasonOf, fromHalf, jobFailedError, jobIdFor, toHalf } from '../src-ts/queue/protocol.js';
import { InvalidInputError } from '../src-ts/errors.js';

/** xorshift32: deterministic inputs. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

test('every half value decodes and encodes back to itself', (t) => {
  let bad = 0;
  for (let h = 0; h < 0x10000; h++) {
    const x = fromHalf(h);
    if (Number.isNaN(x)) {
      if ((toHalf(x) & 0x7c00) !== 0x7c00 || (toHalf(x) & 0x3ff) === 0) bad++;
      continue;
    }
    if (toHalf(x) !== h) bad++;
  }
  t.is(bad, 0);
  t.is(fromHalf(0x3c00), 1);
  t.is(fromHalf(0x7bff), 65504);
  t.is(fromHalf(0x0001), 2 ** -24);
});

test('float32 to half is the nearest half value, ties to even (checked against the table of all halves)', (t) => {
  // Every finite non-negative half in increasing order (their bit patterns are ordered too).
  const halves: number[] = [];
  for (let h = 0; h <= 0x7bff; h++) halves.push(fromHalf(h));
  const rand = rng(7);
  const f32 = new Float32Array(1);
  let bad = 0;
  const check = (x: number) => {
    f32[0] = x;
    x = f32[0];
    const a = Math.abs(x);
    const h = toHalf(x) & 0x7fff;
    if (a > 65520) return void (h !== 0x7c00 && bad++); // beyond the last half's rounding range: inf
    // The neighbours of |x| in the table.
    let lo = 0;
    let hi = halves.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (halves[mid]! <= a) lo = mid;
      else hi = mid;
    }
    const dlo = a - halves[lo]!;
    const dhi = halves[hi]! - a;
    const want = dlo < dhi ? lo : dhi < dlo ? hi : lo % 2 === 0 ? lo : hi;
    if (h !== want && !(a === halves[hi] && h === hi)) bad++;
    if ((toHalf(x) & 0x8000) !== (x < 0 || Object.is(x, -0) ? 0x8000 : 0)) bad++;
  };
  for (let i = 0; i < 20000; i++) {
    // Magnitudes from subnormal halves to past the largest one, both signs.
    check((rand() < 0.5 ? -1 : 1) * 2 ** (rand() * 42 - 26));
  }
  // Exact ties: halfway between neighbouring halves.
  for (let i = 0; i < 2000; i++) {
    const k = Math.floor(rand() * (halves.length - 1));
    check((halves[k]! + halves[k + 1]!) / 2);
  }
  t.is(bad, 0);
  t.is(toHalf(Infinity), 0x7c00);
  t.is(toHalf(-Infinity), 0xfc00);
  t.is(toHalf(1e-10), 0);
});

test('vectors round-trip: float32 exactly, float16 to the nearest half', (t) => {
  const rand = rng(3);
  const vectors = Array.from({ length: 5 }, () => Float32Array.from({ length: 37 }, () => rand() * 8 - 4));
  t.deepEqual(decodeVectors(encodeVectors(vectors, 'float32'), 5), vectors);
  const half = decodeVectors(encodeVectors(vectors, 'float16'), 5);
  half.forEach((v, i) => v.forEach((x, j) => t.is(x, fromHalf(toHalf(vectors[i]![j]!)))));
  const bytes = (e: 'float16' | 'float32') => Buffer.from(encodeVectors(vectors, e).data, 'base64').length;
  t.is(bytes('float16') * 2, bytes('float32'));
  t.throws(() => decodeVectors(encodeVectors(vectors, 'float32'), 4), { instanceOf: InvalidInputError });
});

test('job ids: the same chunk and task give the same id; anything else another', (t) => {
  const a = jobIdFor({ v: 1, task: 'embed', inputs: ['x', 'y'] });
  t.is(a, jobIdFor({ v: 1, task: 'embed', inputs: ['x', 'y'] }));
  t.regex(a, /^embed-[0-9a-f]{40}$/);
  const others = [
    jobIdFor({ v: 1, task: 'embed', inputs: ['y', 'x'] }),
    jobIdFor({ v: 1, task: 'classify', inputs: ['x', 'y'] }),
    jobIdFor({ v: 1, task: 'embed', inputs: ['x', 'y'], options: { normalize: true } }),
    jobIdFor({ v: 1, task: 'embed', inputs: ['x', 'y'], encoding: 'float16' }),
  ];
  t.is(new Set([a, ...others]).size, 5);
});

test("a worker's error comes back typed, with the rows at fault", (t) => {
  const reason = failedReasonOf(new InvalidInputError('input 0 has 130 tokens; the model takes at most 64'), [3, 9]);
  const err = jobFailedError('embed-abc', reason, 3);
  t.true(err instanceof JobFailedError);
  t.like(err, { code: 'ERR_JOB_FAILED', jobId: 'embed-abc', remoteCode: 'ERR_INVALID_INPUT', remoteName: 'InvalidInputError', rows: [3, 9], attemptsMade: 3 });
  t.regex(err.message, /InvalidInputError \(ERR_INVALID_INPUT\): input 0 has 130 tokens/);
  // BullMQ's own reasons (a job stalled too often) are kept as they are.
  const stalled = jobFailedError('embed-abc', 'job stalled more than allowable limit', 1);
  t.like(stalled, { remoteCode: 'ERR_JOB_FAILED', rows: [] });
  t.regex(stalled.message, /stalled more than allowable limit/);
});
