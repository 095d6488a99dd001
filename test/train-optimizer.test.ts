/**
 * AdamW + linear warmup + clipping against transformers' 10-step trajectories
 * (shared/fixtures/training/trajectory_seqcls_*.safetensors), both weight-decay conventions, and
 * the schedules' lambdas against transformers' formulas.
 */
import test from 'ava';
import { loadModel } from '../src-ts/index.js';
import { createTrainer, scheduleLambda, type TrainableBertModel } from '../src-ts/training/index.js';
import { flat, index, maxAbs, maxAbsDiff, readGoldenFile, rows, sharedPath } from './train-helpers.js';

const traj = index().trajectories;

for (const mode of ['decay_all', 'decay_hf'] as const) {
  test(`AdamW trajectory matches transformers: ${mode}`, async (t) => {
    const info = traj.modes[mode];
    const golden = readGoldenFile(info.file);
    const model = (await loadModel(sharedPath(traj.model_dir), { training: true, threads: 2, device: 'cpu' })) as TrainableBertModel;
    try {
      model.setDropout({ hidden: 0, attention: 0, classifier: 0 });
      const trainer = createTrainer(model, {
        learningRate: 5e-4,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: 0.01,
        noDecay: mode === 'decay_hf' ? 'bias-and-layernorm' : 'none',
        schedule: 'linear',
        warmupSteps: 2,
        totalSteps: 10,
        maxGradNorm: 1.0,
      });
      t.deepEqual(trainer.noDecayParameters().sort(), [...info.no_decay_parameters].sort(), 'the Trainer convention picks the same parameters');
      const losses = flat(golden.get('loss')!);
      const lrs = flat(golden.get('lr')!);
      const norms = flat(golden.get('grad_norm')!);
      let worstState = 0;
      let worstKeyBias = 0;
      for (let k = 1; k <= 10; k++) {
        const batch = {
          inputIds: rows(golden.get(`batch_${k}/input_ids`)!),
          attentionMask: rows(golden.get(`batch_${k}/attention_mask`)!),
          tokenTypeIds: rows(golden.get(`batch_${k}/token_type_ids`)!),
        };
        const r = await trainer.step(batch, { labels: flat(golden.get(`batch_${k}/labels`)!) });
        t.true(Math.abs(r.loss - losses[k - 1]!) <= 1e-5 * losses[k - 1]!, `step ${k}: loss ${r.loss} vs ${losses[k - 1]}`);
        t.is(r.learningRate, lrs[k - 1]!, `step ${k}: lr`);
        t.true(Math.abs(r.gradNorm - norms[k - 1]!) <= 1e-5 * norms[k - 1]!, `step ${k}: grad norm ${r.gradNorm} vs ${norms[k - 1]}`);
        if (k === 1 || k === 5 || k === 10) {
          const state = await model.stateDict();
          for (const [name, tensor] of Object.entries(state)) {
            const ref = golden.get(`step_${k}/${name}`);
            t.truthy(ref, `step_${k}/${name} in the golden`);
            const err = maxAbsDiff(tensor.data, ref!.data);
            // README: 5e-6 for every tensor (well under the 3.5e-5 decay_all vs decay_hf gap), but
            // attention.self.key.bias only to 3e-3: Adam turns float32 round-off gradients of an
            // analytically zero tensor into real updates.
            if (name.endsWith('attention.self.key.bias')) {
              worstKeyBias = Math.max(worstKeyBias, err);
              t.true(err <= 3e-3, `step ${k}: ${name} off by ${err}`);
            } else {
              worstState = Math.max(worstState, err);
              t.true(err <= 5e-6, `step ${k}: ${name} off by ${err} (max |p| ${maxAbs(ref!.data)})`);
            }
          }
        }
      }
      t.log(`${mode}: worst parameter error ${worstState.toExponential(2)} (key.bias ${worstKeyBias.toExponential(2)}) over steps 1, 5, 10`);
    } finally {
      await model.dispose();
    }
  });
}

test('schedules follow transformers: lr 0 at step 0 with warmup, linear and cosine decay', (t) => {
  const linear = scheduleLambda({ schedule: 'linear', warmupSteps: 2, totalSteps: 10 });
  t.deepEqual([0, 1, 2, 3, 9, 10, 11].map(linear), [0, 0.5, 1, 7 / 8, 1 / 8, 0, 0]);
  const cosine = scheduleLambda({ schedule: 'cosine', warmupSteps: 2, totalSteps: 10 });
  t.is(cosine(0), 0);
  t.is(cosine(2), 1);
  t.true(Math.abs(cosine(6) - 0.5) < 1e-12);
  t.true(Math.abs(cosine(10)) < 1e-12);
  const noWarmup = scheduleLambda({ schedule: 'linear', warmupSteps: 0, totalSteps: 4 });
  t.is(noWarmup(0), 1);
  t.is(scheduleLambda({ schedule: 'constant_with_warmup', warmupSteps: 4 })(1), 0.25);
  t.throws(() => scheduleLambda({ schedule: 'linear', warmupSteps: 0 }), { code: 'ERR_INVALID_INPUT' });
});
