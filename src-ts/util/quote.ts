/**
 * A value from an untrusted file or request, quoted for an error message. JSON.stringify alone
 * is not safe there: deeply nested input overflows its recursion (a RangeError instead of the
 * typed error being built), BigInt throws, and a huge value makes a huge message.
 */
export function quote(v: unknown, max = 100): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? '[…] (too deeply nested to show)' : v !== null && typeof v === 'object' ? '{…} (too deeply nested to show)' : typeof v;
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
