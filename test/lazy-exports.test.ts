/** The package entry's stand-ins (src-ts/util/lazy-exports.ts): a class loaded on first use behaves as the class. */
import test from 'ava';
import { inspect } from 'node:util';
import { BertError } from '../src-ts/errors.js';
import { lazyClass, onceLoader } from '../src-ts/util/lazy-exports.js';

class Real {
  static created = 0;
  static make(x: number): Real {
    return new this(x);
  }
  static get kind(): string {
    return 'real';
  }
  readonly x: number;
  constructor(x: number) {
    this.x = x;
    Real.created++;
  }
  double(): number {
    return this.x * 2;
  }
}

function standIn(): { Stand: typeof Real; loads: () => number } {
  let loads = 0;
  const load = onceLoader(() => (loads++, { Real }));
  return { Stand: lazyClass(load, 'Real') as unknown as typeof Real, loads: () => loads };
}

test('nothing is loaded until the class is used, and then once', (t) => {
  const { Stand, loads } = standIn();
  t.is(loads(), 0);
  t.is(typeof Stand, 'function');
  t.is(loads(), 0);
  t.is(new Stand(2).double(), 4);
  t.is(Stand.make(3).x, 3);
  t.is(loads(), 1);
});

test('new, instanceof, the prototype and the statics are the real class', (t) => {
  const { Stand } = standIn();
  const a = new Stand(5);
  t.true(a instanceof Stand);
  t.true(a instanceof Real);
  t.true(new Real(1) instanceof Stand);
  t.false({} instanceof Stand);
  t.is(Object.getPrototypeOf(a), Real.prototype);
  t.is(Stand.prototype, Real.prototype);
  t.is(a.constructor, Real);
  t.is(Stand.name, 'Real');
  t.is(Stand.length, 1);
  t.is(Stand.kind, 'real');
  t.true(Stand.make(1) instanceof Real);
  t.is(Object.getPrototypeOf(Stand), Object.getPrototypeOf(Real));
  t.true('make' in Stand);
  t.deepEqual(Reflect.ownKeys(Stand), Reflect.ownKeys(Real));
  t.deepEqual(Object.getOwnPropertyDescriptor(Stand, 'prototype'), Object.getOwnPropertyDescriptor(Real, 'prototype'));
  t.deepEqual(Object.keys(Stand), Object.keys(Real));
});

test('a subclass of the stand-in is a subclass of the real class', (t) => {
  const { Stand } = standIn();
  class Sub extends Stand {
    triple(): number {
      return this.x * 3;
    }
  }
  const s = new Sub(2);
  t.is(s.triple(), 6);
  t.is(s.double(), 4);
  t.true(s instanceof Real);
  t.true(s instanceof Stand);
  t.is(Object.getPrototypeOf(s), Sub.prototype);
  t.true(Sub.make(7) instanceof Sub, 'a static called on the subclass constructs the subclass');
  t.is(Sub.kind, 'real');
});

test('statics written, defined and deleted through the stand-in are on the real class', (t) => {
  const { Stand } = standIn();
  const S = Stand as unknown as Record<string, unknown>;
  S.extra = 1;
  t.is((Real as unknown as Record<string, unknown>).extra, 1);
  Object.defineProperty(Stand, 'fixed', { value: 2, configurable: false, writable: false });
  t.is(S.fixed, 2);
  t.is(Object.getOwnPropertyDescriptor(Stand, 'fixed')?.configurable, false);
  t.true(delete S.extra);
  t.false('extra' in Real);
});

test('what the real class refuses, the stand-in refuses: a call without new, freezing', (t) => {
  const { Stand } = standIn();
  t.throws(() => (Stand as unknown as (x: number) => Real)(1), { instanceOf: TypeError });
  t.throws(() => Object.freeze(Stand), { instanceOf: TypeError });
  t.false(Object.isFrozen(Real));
  t.notThrows(() => inspect(Stand));
  t.notThrows(() => String(Stand));
});

test('an older Node.js (no require() of ES modules) gets a BertError saying which versions work, on first use', (t) => {
  const load = onceLoader(() => {
    throw Object.assign(new Error('require() of ES Module'), { code: 'ERR_REQUIRE_ESM' });
  });
  const Stand = lazyClass(load, 'Real');
  const err = t.throws(() => Reflect.construct(Stand, []), { instanceOf: BertError, message: /Node\.js \^20\.19 or >= 22\.12/ });
  t.is((err?.cause as { code?: string }).code, 'ERR_REQUIRE_ESM');
  const other = onceLoader(() => {
    throw new RangeError('boom');
  });
  t.throws(() => other(), { instanceOf: RangeError });
  t.throws(() => Reflect.get(lazyClass(() => ({}), 'Missing'), 'name'), { instanceOf: TypeError, message: /no class Missing/ });
});
