/**
 * The fixture goldens again with the generic kernels forced (BERTKIT_ISA caps the run-time ISA
 * choice; it is read when the addon first picks kernels, i.e. at the first model load of this
 * process), so every dispatch path the release binary carries is checked on one machine.
 */
import test from 'ava';
import { cpuInfo } from '../src-ts/index.js';
import { registerFixtureParity } from './helpers/parity.js';

process.env.BERTKIT_ISA = 'generic';

registerFixtureParity({ isa: 'generic', threads: 1 });
