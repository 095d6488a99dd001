/** Every fixture model and case against its float64 golden, with the best kernels this CPU has. */
import { registerFixtureParity } from './helpers/parity.js';

registerFixtureParity();
