// Errors the server answers, and how each API family writes them: TEI's `{ error, error_type }`
// and OpenAI's `{ error: { message, type, param, code } }`.
import { AbortedError, BertError, DisposedError, InvalidInputError, OverloadedError, TimeoutError } from 'bertkit';

/**
 * An error with TEI's status and `error_type`. `param` and `code` are OpenAI's fields;
 * `openaiStatus` overrides the status OpenAI's family answers (see openaiStatus()).
 */
export class HttpError extends Error {
  constructor(status, type, message, { headers = {}, param = null, code = null, openaiStatus } = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.headers = headers;
    this.param = param;
    this.code = code;
    this.openaiStatus = openaiStatus;
  }
}

/** A request field with the wrong type or value (TEI: 422 `validation`). */
export const validation = (message, param = null, code = null) => new HttpError(422, 'validation', message, { param, code });
/** An empty input list (TEI: 400 `empty`). */
export const empty = (message, param = null) => new HttpError(400, 'empty', message, { param });
/** More inputs, or longer ones, than the server takes (TEI: 413 `validation`). */
export const tooLarge = (message, param = null, code = null) => new HttpError(413, 'validation', message, { param, code });
/** A request body over the payload limit: 413 in both families. */
export const payloadTooLarge = (message) => new HttpError(413, 'validation', message, { openaiStatus: 413, code: 'payload_too_large' });

/** Maps what the library throws to an HttpError; null for a client that went away. */
export function toHttpError(err) {
  if (err instanceof HttpError) return err;
  if (err instanceof AbortedError) return null;
  if (err instanceof OverloadedError) {
    const retry = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    return new HttpError(503, 'overloaded', err.message, { headers: { 'retry-after': retry }, code: 'overloaded' });
  }
  if (err instanceof TimeoutError) return new HttpError(503, 'timeout', err.message, { headers: { 'retry-after': '1' }, code: 'timeout' });
  if (err instanceof DisposedError) return new HttpError(503, 'unhealthy', 'the server is shutting down', { code: 'unhealthy' });
  if (err instanceof InvalidInputError) return validation(err.message);
  if (err instanceof BertError) return new HttpError(500, 'backend', `${err.name}: ${err.message}`);
  return new HttpError(500, 'backend', String(err?.message ?? err));
}

/** TEI's body. */
export function teiBody(e) {
  return { error: e.message, error_type: e.type };
}

/**
 * OpenAI's status for an error: OpenAI answers 400 `invalid_request_error` for every bad request
 * (wrong types, unknown fields, empty or too many inputs, an input over the context length), where
 * TEI splits them into 400/413/422.
 */
export function openaiStatus(e) {
  if (e.openaiStatus !== undefined) return e.openaiStatus;
  return e.status === 413 || e.status === 422 ? 400 : e.status;
}

/** OpenAI's body. */
export function openaiBody(e) {
  const status = openaiStatus(e);
  // OpenAI's own 401 is an `invalid_request_error` with code `invalid_api_key`.
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message: e.message, type, param: e.param, code: e.code } };
}
