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
const knownSecrets = new Set<string>();

/** Register a credential value (≥ 8 chars) so that `redact` masks it wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) knownSecrets.add(value);
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
  let out = text;
  // Longest first so that a secret containing another one is masked whole.
  const secrets = [...knownSecrets].sort((a, b) => b.length - a.length);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(mask(s));
  out = out.replace(/(Bearer\s+)(\S{8,})/g, (_m, pre: string, tok: string) =>
    tok.includes(ELLIPSIS) ? pre + tok : pre + mask(tok),
  );
  out = out.replace(/(x-api-key:\s*)(\S+)/gi, (_m, pre: string, tok: string) =>
    tok.includes(ELLIPSIS) || tok === "missing" ? pre + tok : pre + mask(tok),
  );
  for (const re of PATTERNS) out = out.replace(re, (m) => mask(m));
  return out;
}
