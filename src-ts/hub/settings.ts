/**
 * Where the Hugging Face cache lives, which Hub to ask and with what token, read as
 * `huggingface_hub` reads them, so Python tools and bertkit share one cache.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const TRUE = new Set(['1', 'on', 'yes', 'true']);

function isTrue(value: string | undefined): boolean {
  return value !== undefined && TRUE.has(value.trim().toLowerCase());
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(): string {
  return env('HF_HOME') ?? join(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'huggingface');
}

/** `cacheDir`, else `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`. */
export function hubCacheDir(cacheDir?: string): string {
  return cacheDir ?? env('HF_HUB_CACHE') ?? env('HUGGINGFACE_HUB_CACHE') ?? join(hfHome(), 'hub');
}

/** `endpoint`, else `HF_ENDPOINT`, else https://huggingface.co; never with a trailing slash. */
export function hubEndpoint(endpoint?: string): string {
  return (endpoint ?? env('HF_ENDPOINT') ?? 'https://huggingface.co').replace(/\/+$/, '');
}

/** `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set to 1/ON/YES/TRUE. */
export function hubOffline(): boolean {
  return isTrue(env('HF_HUB_OFFLINE') ?? env('TRANSFORMERS_OFFLINE'));
}

/**
 * The token to send: `token` (false: none), else `HF_TOKEN` (or the older
 * `HUGGING_FACE_HUB_TOKEN`), else the file `hf auth login` writes (`HF_TOKEN_PATH`, else
 * `$HF_HOME/token`).
 */
export function hubToken(token?: string | false): string | undefined {
  if (token === false) return undefined;
  if (token !== undefined && token !== '') return token;
  const fromEnv = env('HF_TOKEN') ?? env('HUGGING_FACE_HUB_TOKEN');
  if (fromEnv) return fromEnv.trim();
  try {
    const saved = readFileSync(env('HF_TOKEN_PATH') ?? join(hfHome(), 'token'), 'utf8').trim();
    return saved === '' ? undefined : saved;
  } catch {
    return undefined;
  }
}

/** Seconds before a metadata request (file list, HEAD) or a stalled transfer gives up. */
export function hubTimeouts(): { metadataMs: number; downloadMs: number } {
  const seconds = (name: string, fallback: number) => {
    const v = Number(env(name));
    return (Number.isFinite(v) && v > 0 ? v : fallback) * 1000;
  };
  return { metadataMs: seconds('HF_HUB_ETAG_TIMEOUT', 10), downloadMs: seconds('HF_HUB_DOWNLOAD_TIMEOUT', 10) };
}
