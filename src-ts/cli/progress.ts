/** A one-line progress bar on stderr; silent unless the stream is a terminal. */

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  /** 'bytes' shows sizes and MB/s, 'items' counts inputs. */
  unit?: 'bytes' | 'items';
  /** Draw even when false-y isTTY says not to (tests); default: the stream's isTTY. */
  enabled?: boolean;
  /** Milliseconds between redraws (default 100). */
  interval?: number;
  now?: () => number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export class ProgressBar {
  readonly enabled: boolean;
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #unit: 'bytes' | 'items';
  readonly #interval: number;
  readonly #now: () => number;
  readonly #start: number;
  #last = -Infinity;
  #drawn = false;

  constructor(stream: ProgressStream, label: string, options: ProgressOptions = {}) {
    this.#stream = stream;
    this.#label = label;
    this.#unit = options.unit ?? 'items';
    this.enabled = options.enabled ?? stream.isTTY === true;
    this.#interval = options.interval ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** `done` of `total` (undefined: unknown); redraws at most every `interval` ms unless `force`. */
  update(done: number, total?: number, force = false): void {
    if (!this.enabled) return;
    const now = this.#now();
    if (!force && now - this.#last < this.#interval) return;
    this.#last = now;
    this.#stream.write(`\r${this.render(done, total, now)}\x1b[K`);
    this.#drawn = true;
  }

  /** Clears the line (the bar leaves nothing behind). */
  finish(): void {
    if (this.#drawn) this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }

  /** The line for `done` of `total`, fitted to the terminal's width. */
  render(done: number, total: number | undefined, now = this.#now()): string {
    const seconds = Math.max((now - this.#start) / 1000, 1e-3);
    const rate = done / seconds;
    const amount = (n: number) => (this.#unit === 'bytes' ? formatBytes(n) : n.toLocaleString('en-US'));
    const speed = this.#unit === 'bytes' ? `${formatBytes(rate)}/s` : `${rate < 10 ? rate.toFixed(1) : Math.round(rate)}/s`;
    const width = Math.max(this.#stream.columns ?? 80, 40) - 1;
    if (total === undefined || total <= 0) {
      return `${this.#label} ${amount(done)}${this.#unit === 'items' ? ' inputs' : ''} ${speed}`.slice(0, width);
    }
    const frac = Math.min(done / total, 1);
    const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}% ${amount(done)}/${amount(total)} ${speed}`;
    const barWidth = Math.max(width - this.#label.length - tail.length - 3, 5);
    const filled = Math.round(frac * barWidth);
    return `${this.#label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`.slice(0, width);
  }
}
