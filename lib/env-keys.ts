/**
 * The env credential list of a provider and its rotation order (spec 02 §4.1, D5).
 */
import type { EnvEntry, EnvOrigin } from "./env.ts";
import { normalizeSecret } from "./normalize.ts";
import { catalogEntry, envBase } from "./providers.ts";

export interface EnvCredential {
  value: string;
  /** Env var the value came from (for a list: `<BASE>_API_KEYS`). */
  var: string;
  origin: EnvOrigin;
  mode: "api_key" | "token";
}

export interface EnvCredentialList {
  entries: EnvCredential[];
  /** Values dropped by the normaliser: var name and message (never the value). */
  invalid: Array<{ var: string; message: string }>;
}

/**
 * Natural-order comparison: digit runs compare numerically, other runs by code point (`2` < `10` < `a`).
 * @returns negative, zero or positive like `Array.prototype.sort` comparators
 */
export function naturalCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i]!;
    const y = rb[i]!;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const diff = Number(BigInt(x) - BigInt(y));
      if (diff !== 0) return diff < 0 ? -1 : 1;
      if (x.length !== y.length) return x.length - y.length;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return ra.length - rb.length;
}

/** Split a `<BASE>_API_KEYS` value on commas, semicolons and any whitespace; blanks dropped. */
export function splitKeyList(raw: string): string[] {
  return raw.split(/[,;\s]+/).filter((s) => s !== "");
}

/**
 * Build the env credential list of provider P (02 §4.1): LIVE override, token vars, `<BASE>_API_KEYS`,
 * `<BASE>_API_KEY`, extra key vars, `<BASE>_API_KEY_<suffix>` in natural order, Google's `GOOGLE_API_KEY` last;
 * each value normalised (value mode), invalid ones dropped, de-duplicated by value (first wins).
 * @param vars the effective env
 */
export function envCredentialList(providerId: string, vars: ReadonlyMap<string, EnvEntry>): EnvCredentialList {
  const cat = catalogEntry(providerId);
  const result: EnvCredentialList = { entries: [], invalid: [] };
  if (cat?.oauthOnly) return result;
  const base = envBase(providerId);
  const raw: Array<{ value: string; var: string; origin: EnvOrigin; mode: "api_key" | "token" }> = [];
  const add = (name: string, mode: "api_key" | "token") => {
    const e = vars.get(name);
    if (e && e.value.trim() !== "") raw.push({ value: e.value, var: name, origin: e.origin, mode });
  };
  const live = vars.get(`JARVIS_LIVE_${base}_KEY`);
  if (live && live.value.trim() !== "") {
    raw.push({ value: live.value, var: `JARVIS_LIVE_${base}_KEY`, origin: live.origin, mode: "api_key" });
  } else {
    for (const v of cat?.tokenVars ?? []) add(v, "token");
    const list = vars.get(`${base}_API_KEYS`);
    if (list) for (const item of splitKeyList(list.value)) raw.push({ value: item, var: `${base}_API_KEYS`, origin: list.origin, mode: "api_key" });
    add(`${base}_API_KEY`, "api_key");
    const google = providerId === "google" || providerId === "google-vertex";
    for (const v of cat?.extraKeyVars ?? []) if (!(google && v === "GOOGLE_API_KEY")) add(v, "api_key");
    const prefix = `${base}_API_KEY_`;
    const suffixed = [...vars.keys()].filter((k) => k.startsWith(prefix) && k.length > prefix.length);
    suffixed.sort((a, b) => naturalCompare(a.slice(prefix.length), b.slice(prefix.length)));
    for (const v of suffixed) add(v, "api_key");
    if (google) add("GOOGLE_API_KEY", "api_key");
  }
  const seen = new Set<string>();
  for (const item of raw) {
    const n = normalizeSecret(item.value, { mode: "value", what: item.var });
    if (!n.ok) {
      result.invalid.push({ var: item.var, message: n.message });
      continue;
    }
    if (seen.has(n.value)) continue;
    seen.add(n.value);
    result.entries.push({ ...item, value: n.value });
  }
  return result;
}
