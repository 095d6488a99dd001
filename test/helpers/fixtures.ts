/** Paths to the shared, read-only fixtures (../shared next to the checkout). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const sharedDir = process.env.BERTKIT_SHARED_DIR ?? resolve(repoRoot, '..', 'shared');
export const fixturesDir = join(sharedDir, 'fixtures');
export const dataDir = join(sharedDir, 'data');

export function fixture(...parts: string[]): string {
  const p = join(fixturesDir, ...parts);
  if (!existsSync(p)) throw new Error(`fixture not found: ${p} (set BERTKIT_SHARED_DIR to the shared/ folder)`);
  return p;
}
