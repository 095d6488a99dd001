/**
 * Exports that load their module on first use, for the package entry scripts/bundle.mjs writes:
 * `import 'bertkit'` compiles errors, config and constants only, and the rest of the library
 * (~570 KB of JavaScript, most of an import's cost) the first time one of its functions or classes
 * is used. The load is synchronous (require() of an ES module: Node.js ^20.19 or >=22.12), so every
 * export keeps its type: a synchronous function stays synchronous, a class stays a class.
 */
import { BertError } from '../errors.js';

export type ModuleLoader = () => Record<string, unknown>;

/** `load` run once, on the first call; its failure (an older Node.js) says what to do. */
export function onceLoader(load: () => Record<string, unknown>): ModuleLoader {
  let module: Record<string, unknown> | undefined;
  return () => {
    if (module) return module;
    try {
      module = load();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') {
        throw new BertError(`bertkit needs Node.js ^20.19 or >= 22.12 (require() of ES modules); this is ${process.version}`, 'ERR_BERT', { cause: err });
      }
      throw err;
    }
    return module;
  };
}

/**
 * A stand-in for the class `name` of the module `load` gives: `new`, subclassing, `instanceof`,
 * statics (read, written, listed) and the prototype all reach the real class. Only identity
 * differs: `new Stand() .constructor` is the real class, not the stand-in.
 */
export function lazyClass(load: ModuleLoader, name: string): abstract new (...args: never[]) => unknown {
  // A bound function is a constructor with no own `prototype`: the real class's non-configurable
  // properties are copied onto it before any trap answers, which is what Proxy's invariants ask.
  const target = function () {}.bind(null);
  let real: Function | undefined;
  const cls = (): Function => {
    if (real) return real;
    const c = load()[name];
    if (typeof c !== 'function') throw new TypeError(`bertkit: the lazily loaded module has no class ${name}`);
    for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(c))) if (!d.configurable) Object.defineProperty(target, key, d);
    return (real = c);
  };
  const proxy: Function = new Proxy(target, {
    construct: (_, args, newTarget) => Reflect.construct(cls(), args, newTarget === proxy ? cls() : newTarget),
    apply: (_, self, args) => Reflect.apply(cls(), self, args),
    get: (_, key, receiver) => Reflect.get(cls(), key, receiver === proxy ? cls() : receiver),
    set: (_, key, value, receiver) => Reflect.set(cls(), key, value, receiver === proxy ? cls() : receiver),
    has: (_, key) => Reflect.has(cls(), key),
    ownKeys: () => Reflect.ownKeys(cls()),
    getOwnPropertyDescriptor: (_, key) => Reflect.getOwnPropertyDescriptor(cls(), key),
    defineProperty: (_, key, d) => {
      if (!Reflect.defineProperty(cls(), key, d)) return false;
      if (d.configurable === false) Object.defineProperty(target, key, Reflect.getOwnPropertyDescriptor(cls(), key)!);
      return true;
    },
    deleteProperty: (_, key) => Reflect.deleteProperty(cls(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(cls()),
    setPrototypeOf: (_, proto) => Reflect.setPrototypeOf(cls(), proto),
    // Freezing or sealing the stand-in would have to freeze the real class too: refused (TypeError).
    preventExtensions: () => false,
  });
  return proxy as abstract new (...args: never[]) => unknown;
}
