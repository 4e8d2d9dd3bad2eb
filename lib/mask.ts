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
// Registered values grouped by their first 8 characters; per group a set of the values and their distinct lengths
// (longest first). Redaction then costs, per output position whose first two characters start some secret, one map
// lookup and one set lookup per distinct length — however many secrets a store holds, even when thousands of keys
// share a prefix such as `sk-ant-a`.
const PREFIX = 8;
const knownSecrets = new Set<string>();
const byPrefix = new Map<string, { values: Set<string>; lengths: number[] }>();
// First two UTF-16 units of every registered secret, as one number: a cheap gate before slicing the prefix.
const firstPairs = new Set<number>();
// A regex matching any of those pairs finds candidate positions natively instead of testing every character.
let pairRe: RegExp | null = null;
const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** Register a credential value (≥ 8 chars) so that `redact` masks it wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < PREFIX || knownSecrets.has(value)) return;
  knownSecrets.add(value);
  const pair = value.charCodeAt(0) * 65536 + value.charCodeAt(1);
  if (!firstPairs.has(pair)) {
    firstPairs.add(pair);
    pairRe = null;
  }
  const key = value.slice(0, PREFIX);
  let group = byPrefix.get(key);
  if (!group) byPrefix.set(key, (group = { values: new Set(), lengths: [] }));
  group.values.add(value);
  if (!group.lengths.includes(value.length)) {
    group.lengths.push(value.length);
    group.lengths.sort((a, b) => b - a);
  }
}

/** The longest registered secret starting at `i`, if any. */
function secretAt(text: string, i: number): string | undefined {
  if (!firstPairs.has(text.charCodeAt(i) * 65536 + text.charCodeAt(i + 1))) return undefined;
  const group = byPrefix.get(text.slice(i, i + PREFIX));
  if (!group) return undefined;
  for (const len of group.lengths) {
    if (i + len > text.length) continue;
    const candidate = text.slice(i, i + len);
    if (group.values.has(candidate)) return candidate;
  }
  return undefined;
}

/** Mask every registered secret in `text`, scanning left to right; the longest secret starting at a position wins. */
function redactKnown(text: string): string {
  if (byPrefix.size === 0 || text.length < PREFIX) return text;
  if (!pairRe) {
    const alternatives = [...firstPairs].map((n) => escapeRe(String.fromCharCode(Math.floor(n / 65536), n % 65536)));
    pairRe = new RegExp(alternatives.join("|"), "g");
  }
  const re = pairRe;
  re.lastIndex = 0;
  let out = "";
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const i = m.index;
    const hit = i <= text.length - PREFIX ? secretAt(text, i) : undefined;
    if (hit) {
      out += text.slice(last, i) + mask(hit);
      last = i + hit.length;
      re.lastIndex = last;
    } else re.lastIndex = i + 1;
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
