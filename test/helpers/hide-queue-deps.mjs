// Loaded with `node --import` by a test: makes `bullmq` and `ioredis` unresolvable, as in an
// install without the optional peers, so that the missing-dependency path runs for real.
import { register } from 'node:module';

register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === 'bullmq' || specifier === 'ioredis') {
    const err = new Error("Cannot find package '" + specifier + "'");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`));
