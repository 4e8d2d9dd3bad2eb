/**
 * Masking and redaction (spec 02 §6, D9): the only place that decides how much of a secret may be shown.
 */

const ELLIPSIS = "\u2026";

/**
 * Mask a normalised secret: ≥ 24 chars → first 8 + `…` + last 4; 12–23 → first 4 + `…` + last 2;
 * 1–11 → `…`; empty → `missing`.
 */
export function mask(value: string): string {
  const n = value.length;
  if (n === 0) return "missing";
  if (n >= 24) return value.slice(0, 8) + ELLIPSIS + value.slice(-4);
  if (n >= 12) return value.slice(0, 4) + ELLIPSIS + value.slice(-2);
  return ELLIPSIS;
}

/** `marker(NAME)` display of a non-secret marker value (env var name, `secretref-managed`, `ollama-local`). */
export function markerDisplay(name: string): string {
  return `marker(${name})`;
}

// Credential values loaded by this process; every printed string passes `redact`, which masks them.
// Registered values indexed by their first 8 characters, longest first per prefix: redaction then costs one map
// lookup per character of output, however many secrets a store holds (a 1000-profile store registers 1000+).
const PREFIX = 8;
const knownSecrets = new Set<string>();
const byPrefix = new Map<string, string[]>();
// First two UTF-16 units of every registered secret, as one number: a cheap gate before slicing the prefix.
const firstPairs = new Set<number>();

/** Register a credential value (≥ 8 chars) so that `redact` masks it wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < PREFIX || knownSecrets.has(value)) return;
  knownSecrets.add(value);
  firstPairs.add(value.charCodeAt(0) * 65536 + value.charCodeAt(1));
  const key = value.slice(0, PREFIX);
  const list = byPrefix.get(key) ?? [];
  list.push(value);
  list.sort((a, b) => b.length - a.length);
  byPrefix.set(key, list);
}

/** Mask every registered secret in `text`, scanning left to right; the longest secret starting at a position wins. */
function redactKnown(text: string): string {
  if (byPrefix.size === 0 || text.length < PREFIX) return text;
  let out = "";
  let last = 0;
  let i = 0;
  while (i <= text.length - PREFIX) {
    const hit = firstPairs.has(text.charCodeAt(i) * 65536 + text.charCodeAt(i + 1))
      ? byPrefix.get(text.slice(i, i + PREFIX))?.find((c) => text.startsWith(c, i))
      : undefined;
    if (hit) {
      out += text.slice(last, i) + mask(hit);
      i += hit.length;
      last = i;
    } else i++;
  }
  return last === 0 ? text : out + text.slice(last);
}

const PATTERNS: RegExp[] = [
  /sk-[A-Za-z0-9_-]{8,}/g,
  /AIza[0-9A-Za-z_-]{20,}/g,
];

/**
 * Replace every registered secret and every secret-looking run (`sk-…`, `Bearer <x>`, `x-api-key: <x>`, `AIza…`)
 * in `text` with its masked form (spec 02 §6 "Redaction").
 */
export function redact(text: string): string {
  let out = redactKnown(text);
  out = out.replace(/(Bearer\s+)(\S{8,})/g, (_m, pre: string, tok: string) =>
    tok.includes(ELLIPSIS) ? pre + tok : pre + mask(tok),
  );
  out = out.replace(/(x-api-key:\s*)(\S+)/gi, (_m, pre: string, tok: string) =>
    tok.includes(ELLIPSIS) || tok === "missing" ? pre + tok : pre + mask(tok),
  );
  for (const re of PATTERNS) out = out.replace(re, (m) => mask(m));
  return out;
}
