/** The JS thread keeps running while the engine works: forwards run on a libuv pool thread. */
import test from 'ava';
import { performance } from 'node:perf_hooks';
import { randomModel } from './helpers/random-model.js';

test('the event loop keeps turning during a long forward', async (t) => {
  await using model = await randomModel({ layers: 4, hidden: 256, heads: 4, intermediate: 1024 }, { threads: 1 });
  const rows = Array.from({ length: 16 }, (_, b) => Int32Array.from({ length: 128 }, (_, j) => (b * 131 + j * 7) % 1000));
  await model.forward({ inputIds: rows.slice(0, 1) }); // warm-up

  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 2);
  const start = performance.now();
  await model.forward({ inputIds: rows });
  const duration = performance.now() - start;
  clearInterval(timer);

  t.log(`forward ${duration.toFixed(0)} ms, ${ticks} timer ticks, worst event-loop gap ${maxGap.toFixed(1)} ms`);
  // The forward must be long enough for a blocked loop to show, and the loop must not have been:
  // a forward on the JS thread would give one gap as long as the forward itself.
  t.true(duration >= 50, 'forward too short to measure anything');
  t.true(maxGap < duration / 2, `event loop blocked for ${maxGap.toFixed(1)} ms of a ${duration.toFixed(0)} ms forward`);
  t.true(ticks >= 5);
});

test('model creation does not block the event loop either', async (t) => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const start = performance.now();
  const model = await randomModel({ layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocab: 30000 }, { threads: 1 });
  const duration = performance.now() - start;
  clearInterval(timer);
  await model.dispose();
  t.log(`createModel ${duration.toFixed(0)} ms, ${ticks} ticks`);
  t.true(ticks >= 1);
});
