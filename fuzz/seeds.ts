/** Seed inputs for the fuzz targets, from the test fixtures (test/helpers/fixtures.ts). */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, fixturesDir, repoRoot } from '../test/helpers/fixtures.js';

export { fixture, repoRoot };

/** Every file called `name` in a fixture folder (tiny-bert-*, variants/*). */
export function fixtureFiles(name: string, limit = 8): Buffer[] {
  const dirs = readdirSync(fixturesDir).map((d) => join(fixturesDir, d));
  const variants = join(fixturesDir, 'variants');
  if (existsSync(variants)) dirs.push(...readdirSync(variants).map((d) => join(variants, d)));
  const out: Buffer[] = [];
  for (const d of dirs) {
    const f = join(d, name);
    if (existsSync(f) && out.length < limit) out.push(readFileSync(f));
  }
  return out;
}

export function utf16Seed(text: string): Buffer {
  const b = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) b.writeUInt16LE(text.charCodeAt(i), 2 * i);
  return b;
}
