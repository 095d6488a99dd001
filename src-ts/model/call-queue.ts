/**
 * A model's calls into the engine, one at a time and in order (a second libuv thread would only
 * wait for the model's own thread pool). A call's error becomes a typed BertError carrying the
 * stack of the code that made the call.
 */
import { fromNativeError, withCallerStack } from '../errors.js';

export class CallQueue {
  #tail: Promise<void> = Promise.resolve();

  run<T>(caller: Error, fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn).catch((err: unknown) => {
      throw withCallerStack(fromNativeError(err), caller);
    });
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Settles (never rejects) when every call queued so far has settled. */
  drained(): Promise<void> {
    return this.#tail;
  }
}
