/**
 * Learning-rate schedules with transformers' lambdas (transformers.optimization): the learning
 * rate of optimizer step k (1-based) is base_lr * lambda(k - 1), so with warmup the first step
 * runs at lr 0 (as get_linear_schedule_with_warmup gives: the scheduler steps after the optimizer).
 */
import { InvalidInputError } from '../errors.js';
import { checkOptionNames, optionNames } from '../options.js';

export type ScheduleName = 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';
export const SCHEDULES: readonly ScheduleName[] = ['linear', 'cosine', 'constant', 'constant_with_warmup'];

export interface ScheduleOptions {
  schedule: ScheduleName;
  warmupSteps: number;
  /** Needed by linear and cosine. */
  totalSteps?: number;
  /** Cosine: number of waves (transformers' num_cycles, default 0.5: one half-cosine down to 0). */
  numCycles?: number;
}

const SCHEDULE_OPTIONS = optionNames<ScheduleOptions>({ schedule: true, warmupSteps: true, totalSteps: true, numCycles: true });

/** lambda(step) for step = 0, 1, ... (the multiplier of the base learning rate). */
export function scheduleLambda(o: ScheduleOptions): (step: number) => number {
  checkOptionNames(o, SCHEDULE_OPTIONS, 'scheduleLambda() options');
  const w = o.warmupSteps;
  if (!Number.isInteger(w) || w < 0) throw new InvalidInputError(`warmupSteps must be an integer >= 0, got ${String(w)}`);
  const warm = (s: number) => s / Math.max(1, w);
  switch (o.schedule) {
    case 'constant':
      return () => 1;
    case 'constant_with_warmup':
      return (s) => (s < w ? warm(s) : 1);
    case 'linear':
    case 'cosine': {
      const T = o.totalSteps;
      if (T === undefined || !Number.isInteger(T) || T < 1) {
        throw new InvalidInputError(`the ${o.schedule} schedule needs totalSteps (an integer >= 1), got ${String(T)}`);
      }
      if (o.schedule === 'linear') return (s) => (s < w ? warm(s) : Math.max(0, (T - s) / Math.max(1, T - w)));
      const cycles = o.numCycles ?? 0.5;
      return (s) => {
        if (s < w) return warm(s);
        const progress = (s - w) / Math.max(1, T - w);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
      };
    }
    default:
      throw new InvalidInputError(`schedule must be one of ${SCHEDULES.join(', ')}, got ${JSON.stringify(o.schedule)}`);
  }
}
