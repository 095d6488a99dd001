/**
 * Child process for the kill-mid-save test (test/atomic-writes.test.ts): saves two different
 * states of one model as reference folders, saves state A into the target, prints "ready", then
 * rewrites the target with B, A, B, ... until it is killed.
 */
import { loadModel } from '../../src-ts/index.js';
import { createTrainer, type TrainableBertModel } from '../../src-ts/training/index.js';

const [source, refA, refB, target] = process.argv.slice(2) as [string, string, string, string];
const model = (await loadModel(source, { training: true, threads: 1, device: 'cpu' })) as TrainableBertModel;
model.setDropout({ hidden: 0, attention: 0, classifier: 0 });
const a = await model.stateDict();
const trainer = createTrainer(model, { learningRate: 1e-2, totalSteps: 1 });
await trainer.step({ inputIds: [[101, 7, 8, 102]], attentionMask: [[1, 1, 1, 1]] }, { labels: [1] });
const b = await model.stateDict();
await model.loadStateDict(a);
await model.save(refA);
await model.save(target);
await model.loadStateDict(b);
await model.save(refB);
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  await model.loadStateDict(i % 2 === 0 ? b : a);
  await model.save(target);
}
