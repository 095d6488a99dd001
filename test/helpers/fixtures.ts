/**
 * Paths to the test data the repository carries (test/fixtures, a copy of the project's upstream
 * fixtures made by test/tools/copy-fixtures.mjs). BERTKIT_SHARED_DIR overrides it with an upstream
 * `shared/` folder (its fixtures/ and data/), to run the suite against a newer upstream copy.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
const override = process.env.BERTKIT_SHARED_DIR;
export const fixturesDir = override ? join(override, 'fixtures') : join(repoRoot, 'test', 'fixtures');
/** The real bert-base-uncased tokenizer files (vocab.txt, tokenizer.json with stored truncation/padding). */
export const bertBaseUncasedDir = override
  ? join(override, 'data', 'bert-base-uncased-tokenizer')
  : join(fixturesDir, 'tokenizer', 'bert-base-uncased');

export function fixture(...parts: string[]): string {
  const p = join(fixturesDir, ...parts);
  if (!existsSync(p)) {
    throw new Error(`fixture not found: ${p} (test/fixtures is refreshed by node test/tools/copy-fixtures.mjs; BERTKIT_SHARED_DIR overrides it)`);
  }
  return p;
}
