/**
 * The fixture goldens again with the avx2 kernels forced (BERTKIT_ISA caps the run-time ISA
 * choice; it is read when the addon first picks kernels, i.e. at the first model load of this
 * process), so every dispatch path the release binary carries is checked on one machine.
 */
import test from 'ava';
import { cpuInfo } from '../src-ts/index.js';
import { registerFixtureParity } from './helpers/parity.js';

process.env.BERTKIT_ISA = 'avx2';

// A CPU without avx2 falls back to a lower ISA; nothing to check here then.
const supported = cpuInfo().features.split(' ').includes('avx2');
if (supported) registerFixtureParity({ isa: 'avx2', threads: 3 });
else test('avx2 kernels need a CPU with avx2', (t) => t.pass());
