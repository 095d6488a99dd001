/**
 * The attention page in a real headless Chromium (Debian's chromium; .ci/setup-chromium installs
 * it): it loads with no console errors and no network requests, shows layers x heads maps, reacts
 * to hover and click, and every number it shows is the model's own attention probability.
 * Screenshots go to test-artifacts/visualize/ (git-ignored).
 */
import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import {
  loadModel,
  renderAttention,
  summarizeAttention,
  tokenizerFromVocab,
  type AttentionData,
  type BertModel,
  type RenderAttentionOptions,
} from '../src-ts/index.js';
import { RAMP_LUT, rampIndex } from '../src-ts/visualize/colors.js';
import { chromiumMissing, launchChromium, type Browser } from './helpers/browser.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { randomConfig, randomTensors } from './helpers/random-model.js';
import { createModel } from '../src-ts/index.js';

/** The page-side globals the evaluate() callbacks use: the tests compile without the DOM library. */
interface PageElement {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
  readonly parentElement: PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
interface PageCanvas extends PageElement {
  readonly width: number;
  readonly dataset: Record<string, string>;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  getElementsByTagName(name: string): { length: number };
};

const artifacts = join(repoRoot, 'test-artifacts', 'visualize');
const missing = chromiumMissing();

if (missing) {
  console.warn(`visualize-browser: skipped: ${missing}`);
  test.skip(`browser tests skipped: ${missing}`, () => {});
} else {
  registerBrowserTests();
}

/** What the page did besides drawing: console errors / warnings, uncaught errors, requests. */
interface PageLog {
  errors: string[];
  requests: string[];
}

async function openPage(browser: Browser, html: string, name: string): Promise<{ page: Page; log: PageLog }> {
  await mkdir(artifacts, { recursive: true });
  const file = join(artifacts, `${name}.html`);
  await writeFile(file, html);
  const url = pathToFileURL(file).href;
  const page = await browser.context.newPage();
  const log: PageLog = { errors: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.errors.push(`pageerror: ${String(e)}`));
  // Every request but the page itself is recorded and refused.
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    log.requests.push(u);
    return route.abort();
  });
  page.on('request', (r) => {
    const u = r.url();
    if (u !== url && !u.startsWith('data:') && !log.requests.includes(u)) log.requests.push(u);
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  return { page, log };
}

const fmt = (p: number): string => p.toFixed(4);
const at = (d: AttentionData, l: number, h: number, i: number, j: number): number => d.attentions[l]![(h * d.length + i) * d.length + j]!;

interface DetailCell {
  other: number;
  head: number;
  text: string;
}

/**
 * The numbers of the head view's detail table: every row, scrolling its window through (the page
 * draws only the rows in view).
 */
async function detailTable(page: Page): Promise<{ side: string; index: number; layer: number; cells: DetailCell[] }> {
  const meta = await page.evaluate(() => {
    const el = document.getElementById('hv-detail')!;
    return { side: el.getAttribute('data-side') ?? '', index: Number(el.getAttribute('data-index')), layer: Number(el.getAttribute('data-layer')) };
  });
  const rows = new Map<number, DetailCell[]>();
  await page.evaluate(() => {
    (document.getElementById('hv-scroll') as unknown as { scrollTop: number }).scrollTop = 0;
  });
  for (;;) {
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    const { cells, atEnd } = await page.evaluate(() => {
      const scroller = document.getElementById('hv-scroll') as unknown as PageElement & { scrollTop: number; clientHeight: number; scrollHeight: number };
      const cells = [...scroller.querySelectorAll('tr[data-other] td[data-head]')].map((td) => ({
        other: Number(td.parentElement!.getAttribute('data-other')),
        head: Number(td.getAttribute('data-head')),
        text: td.textContent ?? '',
      }));
      const atEnd = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1;
      if (!atEnd) scroller.scrollTop += scroller.clientHeight;
      return { cells, atEnd };
    });
    for (const c of cells) {
      const row = rows.get(c.other) ?? [];
      if (!row.some((x) => x.head === c.head)) row.push(c);
      rows.set(c.other, row);
    }
    if (atEnd) break;
  }
  return { ...meta, cells: [...rows.keys()].sort((a, b) => a - b).flatMap((k) => rows.get(k)!) };
}

/** Moves the mouse over token `index` of the head view's left (query) or right (key) column. */
async function hoverToken(page: Page, side: 'left' | 'right', index: number): Promise<void> {
  // Geometry of page-script.ts: rows of 16 px after an 8 px margin; 150 px of text each side of a 220 px gap.
  const x = side === 'left' ? 75 : 150 + 220 + 75;
  const y = 8 + index * 16 + 8;
  await page.locator('#hv-canvas').hover({ position: { x, y } });
  await page.waitForFunction(
    ([s, i]) => {
      const el = document.getElementById('hv-detail');
      return el?.getAttribute('data-side') === s && el.getAttribute('data-index') === String(i);
    },
    [side, index] as const,
  );
}

function registerBrowserTests(): void {
  let browser: Browser;
  let model: BertModel;
  test.before(async () => {
    browser = await launchChromium();
    model = await loadModel(fixture('tiny-bert-model'), { device: 'cpu' });
  });
  test.after.always(async () => {
    await browser?.close();
    await model?.dispose();
  });

  test.serial('a text pair: loads clean, grid, hover and click, numbers equal forward()', async (t) => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const pair = 'It was unbelievable.';
    const view = await renderAttention(model, text, { pair, modelName: 'tiny-bert-model' });
    const d = view.data;
    // The reference: forward() itself, on the tokenizer's encoding of the same pair.
    const enc = model.tokenizer!.encode(text, pair);
    const ids = Array.from(enc.ids);
    const ref = await model.forward({ inputIds: [ids], attentionMask: [ids.map(() => 1)], tokenTypeIds: [Array.from(enc.typeIds)] }, { outputAttentions: true });
    const want = (l: number, h: number, i: number, j: number) => ref.attentions![l]!.data[(h * d.length + i) * d.length + j]!;
    const { page, log } = await openPage(browser, view.html, 'pair');
    try {
      // Header and tokenization.
      t.is(await page.textContent('#model-name'), 'tiny-bert-model');
      t.is(await page.textContent('#text'), text);
      t.is(await page.textContent('#pair'), pair);
      t.deepEqual(await page.locator('#tokens .tok').allTextContents(), enc.tokens);
      t.is(await page.locator('#tokens .tok.sub').count(), d.subword.filter(Boolean).length);
      t.true(d.subword.some(Boolean), 'the text has sub-words to mark');
      t.is(await page.locator('#tokens .segb').count(), 1, 'the segment boundary is shown');

      // Model view: layers x heads cells, each drawn from the data.
      const cells = page.locator('#mv-grid canvas.mv-cell');
      t.is(await cells.count(), d.layers * d.heads);
      const pixels = await page.evaluate((L) => {
        return [...document.querySelectorAll('#mv-grid canvas.mv-cell')].map((el) => {
          const c = el as PageCanvas;
          const size = c.width;
          const i = 3, j = 5;
          const x = Math.floor(((j + 0.5) * size) / L), y = Math.floor(((i + 0.5) * size) / L);
          return { layer: Number(c.dataset.layer), head: Number(c.dataset.head), rgb: Array.from(c.getContext('2d')!.getImageData(x, y, 1, 1).data.slice(0, 3)) };
        });
      }, d.length);
      for (const px of pixels) {
        const k = rampIndex(want(px.layer, px.head, 3, 5)) * 3;
        t.deepEqual(px.rgb, [RAMP_LUT[k], RAMP_LUT[k + 1], RAMP_LUT[k + 2]], `cell ${px.layer}/${px.head} pixel of 3 → 5`);
      }

      // Head view: hovering a left token lists what it attends to, per head, with the numbers.
      await hoverToken(page, 'left', 4);
      // 36 rows fit the table's window: all are drawn at once, before any scrolling.
      t.is(await page.evaluate(() => document.getElementById('hv-scroll')!.querySelectorAll('tr[data-other]').length), d.length);
      let table = await detailTable(page);
      t.is(table.layer, 0);
      t.is(table.cells.length, d.length * d.heads);
      for (const c of table.cells) t.is(c.text, fmt(want(0, c.head, 4, c.other)), `layer 0 head ${c.head}: 4 → ${c.other}`);
      await page.locator('#head-view').screenshot({ path: join(artifacts, 'head-view.png') });

      // Right column: what attends to the token; another layer; a head switched off.
      await page.selectOption('#hv-layer', '1');
      await page.uncheck('#hv-heads input[data-head="2"]');
      await hoverToken(page, 'right', 7);
      table = await detailTable(page);
      t.is(table.layer, 1);
      t.deepEqual([...new Set(table.cells.map((c) => c.head))], [0, 1, 3]);
      for (const c of table.cells) t.is(c.text, fmt(want(1, c.head, c.other, 7)), `layer 1 head ${c.head}: ${c.other} → 7`);

      // Click keeps the token while the mouse moves on; a second click releases it.
      await page.locator('#hv-canvas').click({ position: { x: 75, y: 8 + 2 * 16 + 8 } });
      await page.waitForFunction(() => document.getElementById('hv-detail')?.getAttribute('data-index') === '2');
      await page.mouse.move(5, 5);
      await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
      t.is(await page.getAttribute('#hv-detail', 'data-index'), '2', 'kept after the mouse left');
      t.regex((await page.textContent('#hv-detail'))!, /kept/);

      // Model view: a click opens the map large; hovering it reads the value of one cell.
      await page.click('#mv-grid canvas.mv-cell[data-layer="1"][data-head="2"]');
      await page.waitForSelector('#mv-detail:not([hidden])');
      t.is(await page.getAttribute('#mv-big', 'data-layer'), '1');
      t.is(await page.getAttribute('#mv-big', 'data-head'), '2');
      t.true(await page.locator('#mv-grid canvas.mv-cell.sel[data-layer="1"][data-head="2"]').isVisible());
      const ox = Number(await page.getAttribute('#mv-big', 'data-origin-x'));
      const oy = Number(await page.getAttribute('#mv-big', 'data-origin-y'));
      const cell = Number(await page.getAttribute('#mv-big', 'data-cell'));
      for (const [i, j] of [[0, 0], [5, 9], [d.length - 1, 3]] as const) {
        await page.locator('#mv-big').hover({ position: { x: ox + (j + 0.5) * cell, y: oy + (i + 0.5) * cell } });
        await page.waitForFunction(([a, b]) => {
          const r = document.getElementById('mv-readout');
          return r?.getAttribute('data-i') === String(a) && r.getAttribute('data-j') === String(b);
        }, [i, j] as const);
        t.is(await page.getAttribute('#mv-readout', 'data-value'), fmt(want(1, 2, i, j)));
        t.regex((await page.textContent('#mv-readout'))!, new RegExp(`${fmt(want(1, 2, i, j))}$`));
      }
      await page.locator('#model-view').screenshot({ path: join(artifacts, 'model-view.png') });

      // Summary and rollout as computed in the library.
      const summary = summarizeAttention(d);
      const rows = await page.locator('#summary-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      t.is(rows.length, d.layers);
      rows.forEach((r, l) => {
        const s = summary.layers[l]!;
        t.deepEqual(r, [s.cls, s.sep, s.previous, s.next, s.self].map((x) => fmt(x!)));
      });
      t.deepEqual(await page.locator('#rollout .rb .v').allTextContents(), summary.rolloutFirst.map(fmt));
      await page.selectOption('#ro-from', 'mean');
      t.deepEqual(await page.locator('#rollout .rb .v').allTextContents(), summary.rolloutMean.map(fmt));

      await page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });
      t.deepEqual(log.errors, [], 'no console errors');
      t.deepEqual(log.requests, [], 'no network requests');
    } finally {
      await page.close();
    }
  });

  test.serial('the SVG and PNG files decode in the browser at their stated size', async (t) => {
    const view = await renderAttention(model, 'Where is the cat?', { pair: 'On the mat.' });
    await mkdir(artifacts, { recursive: true });
    const files: [string, string | Uint8Array][] = [
      ['grid.svg', view.svg],
      ['head.svg', view.toSvg({ layer: 1, head: 2 })],
      ['grid.png', view.toPng()],
      ['head.png', view.toPng({ layer: 1, head: 2 })],
    ];
    for (const [name, content] of files) {
      const file = join(artifacts, name);
      await writeFile(file, content);
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      try {
        await page.goto(pathToFileURL(file).href);
        if (name.endsWith('.png')) {
          // Chromium shows a PNG as the one <img> of a generated page: its decoded size is the file's.
          const size = await page.evaluate('(async () => { const img = document.images[0]; await img.decode(); return [img.naturalWidth, img.naturalHeight]; })()');
          const png = content as Buffer;
          t.deepEqual(size, [png.readUInt32BE(16), png.readUInt32BE(20)], name);
        } else {
          const info = (await page.evaluate(`(async () => {
            const root = document.documentElement;
            const images = [...document.querySelectorAll('image')];
            // Each embedded PNG decodes: load it as an <img> of its own.
            const sizes = await Promise.all(images.map(async (im) => { const img = new Image(); img.src = im.getAttribute('href'); await img.decode(); return img.naturalWidth; }));
            return { tag: root.tagName, width: root.width.baseVal.value, height: root.height.baseVal.value, images: images.length, sizes };
          })()`)) as { tag: string; width: number; height: number; images: number; sizes: number[] };
          t.is(info.tag, 'svg');
          const [, w, h] = (content as string).match(/<svg [^>]*width="(\d+)" height="(\d+)"/)!;
          t.deepEqual([info.width, info.height], [Number(w), Number(h)]);
          t.is(info.images, name === 'grid.svg' ? view.data.layers * view.data.heads : 1);
          t.true(info.sizes.every((x) => x > 0));
        }
        await page.screenshot({ path: join(artifacts, `${name}.screenshot.png`) });
        t.deepEqual(errors, [], name);
      } finally {
        await page.close();
      }
    }
  });

  test.serial('uint16 storage: shown numbers within 1e-4 of forward()', async (t) => {
    const options: RenderAttentionOptions = { precision: 'uint16' };
    const view = await renderAttention(model, 'hello world, how are you?', options);
    const d = view.data;
    const { page, log } = await openPage(browser, view.html, 'uint16');
    try {
      t.regex((await page.textContent('#how'))!, /65535/);
      await hoverToken(page, 'left', 1);
      const table = await detailTable(page);
      for (const c of table.cells) t.true(Math.abs(Number(c.text) - at(d, 0, c.head, 1, c.other)) <= 1e-4, `${c.text} vs ${at(d, 0, c.head, 1, c.other)}`);
      t.deepEqual(log.errors, []);
      t.deepEqual(log.requests, []);
    } finally {
      await page.close();
    }
  });

  test.serial('512 tokens: canvas drawing keeps the DOM small; hover and click still answer', async (t) => {
    const shape = { layers: 4, hidden: 32, heads: 4, intermediate: 64, maxPositions: 512 };
    const big = await createModel(randomConfig(shape), randomTensors(shape), { device: 'cpu' });
    try {
      const tokenizer = tokenizerFromVocab(await readFile(fixture('tiny-bert-model', 'vocab.txt'), 'utf8'));
      const words = ['the', 'cat', 'sat', 'on', 'mat', 'and', 'a', 'dog'];
      const text = Array.from({ length: 600 }, (_, k) => words[k % words.length]).join(' ');
      const view = await renderAttention(big, text, { tokenizer, truncate: true, modelName: 'random-512' });
      const d = view.data;
      t.is(d.length, 512);
      const { page, log } = await openPage(browser, view.html, 'long');
      try {
        t.is(await page.locator('#mv-grid canvas.mv-cell').count(), 16);
        const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
        t.log(`${nodes} elements for 512 tokens`);
        // Linear in L (tokens, rollout rows), never L x L: the maps and lines are canvas pixels.
        t.true(nodes < 6 * 512, `${nodes} elements`);
        await hoverToken(page, 'right', 300);
        const drawn = await page.evaluate(() => document.getElementById('hv-scroll')!.querySelectorAll('tr[data-other]').length);
        t.true(drawn >= 32 && drawn < 100, `${drawn} rows drawn at once`);
        const table = await detailTable(page);
        t.is(table.cells.length, 512 * 4);
        t.deepEqual([...new Set(table.cells.map((c) => c.other))], Array.from({ length: 512 }, (_, k) => k));
        for (const c of table.cells.filter((_, k) => k % 97 === 0)) t.is(c.text, fmt(at(d, 0, c.head, c.other, 300)));
        await page.click('#mv-grid canvas.mv-cell[data-layer="3"][data-head="1"]');
        await page.waitForSelector('#mv-detail:not([hidden])');
        const cell = Number(await page.getAttribute('#mv-big', 'data-cell'));
        const ox = Number(await page.getAttribute('#mv-big', 'data-origin-x'));
        await page.locator('#mv-big').hover({ position: { x: ox + 400.5 * cell, y: ox + 10.5 * cell } });
        await page.waitForFunction(() => document.getElementById('mv-readout')?.getAttribute('data-i') === '10');
        t.is(await page.getAttribute('#mv-readout', 'data-j'), '400');
        t.is(await page.getAttribute('#mv-readout', 'data-value'), fmt(at(d, 3, 1, 10, 400)));
        t.deepEqual(log.errors, []);
        t.deepEqual(log.requests, []);
      } finally {
        await page.close();
      }
    } finally {
      await big.dispose();
    }
  });

  test.serial('screenshots of a model with peaked attention (the README picture)', async (t) => {
    // Random weights with the query and key projections scaled up: attention as peaked as a trained
    // model's, so the picture shows what the views look like in use.
    const shape = { layers: 4, hidden: 64, heads: 4, intermediate: 128, maxPositions: 64 };
    const tensors = randomTensors(shape, 7);
    for (const [name, tensor] of Object.entries(tensors)) {
      if (/attention\.self\.(query|key)\.weight$/.test(name)) tensor.data = Float32Array.from(tensor.data as Float32Array, (v) => v * 14);
    }
    const peaked = await createModel(randomConfig(shape), tensors, { device: 'cpu' });
    try {
      const view = await renderAttention(peaked, 'The cat sat on the mat.', { pair: 'It was happy there.', tokenizer: model.tokenizer!, modelName: 'random-bert (4 layers, 4 heads)' });
      const { page, log } = await openPage(browser, view.html, 'readme');
      try {
        await page.setViewportSize({ width: 1100, height: 900 });
        await hoverToken(page, 'left', 2);
        await page.locator('#head-view').screenshot({ path: join(artifacts, 'readme-head-view.png') });
        await page.click('#mv-grid canvas.mv-cell[data-layer="2"][data-head="1"]');
        await page.waitForSelector('#mv-detail:not([hidden])');
        await page.locator('#model-view').screenshot({ path: join(artifacts, 'readme-model-view.png') });
        t.deepEqual(log.errors, []);
        t.deepEqual(log.requests, []);
      } finally {
        await page.close();
      }
    } finally {
      await peaked.dispose();
    }
  });
}
