/** Child processes a test starts: their output by lines, waits for a line, and a kill of all of them at the end. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Proc {
  child: ChildProcess;
  /** stdout and stderr lines so far. */
  lines: string[];
  /** Resolves with the first line (already seen or to come) matching `re`; rejects if the process exits first. */
  waitFor(re: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  output(): string;
}

export class Procs {
  readonly #all: Proc[] = [];

  start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const watchers: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const take = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        rest += d;
        let i;
        while ((i = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, i);
          rest = rest.slice(i + 1);
          lines.push(line);
          for (const w of [...watchers]) {
            const m = line.match(w.re);
            if (m) {
              watchers.splice(watchers.indexOf(w), 1);
              w.resolve(m);
            }
          }
        }
      });
    };
    take(child.stdout!);
    take(child.stderr!);
    const proc: Proc = {
      child,
      lines,
      exited,
      output: () => lines.join('\n'),
      waitFor(re) {
        for (const line of lines) {
          const m = line.match(re);
          if (m) return Promise.resolve(m);
        }
        return new Promise((resolve, reject) => {
          watchers.push({ re, resolve });
          void exited.then((code) => reject(new Error(`process exited (${code}) before printing ${re}:\n${lines.join('\n')}`)));
        });
      },
    };
    this.#all.push(proc);
    return proc;
  }

  /** SIGKILL to every process still running. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.#all.map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        await p.exited;
      }),
    );
  }
}
