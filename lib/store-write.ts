/**
 * Writing the auth store (spec 03 §4–§5): every change is lock → re-read → field-level mutation → atomic write.
 * The mutations are pure functions over the raw document as it is on disk, so unknown fields survive (D2).
 */
import type { JarvisConfig } from "./config.ts";
import { updateJsonFile } from "./atomic.ts";
import { cooldownSettings, isRecordableReason, nextStatsAfterFailure, nextStatsAfterSuccess, neverCoolsDown } from "./cooldown.ts";
import { JarvisError } from "./errors.ts";
import { dict, toDict } from "./dict.ts";
import { findProviderKey, normalizeAuthProviderId } from "./providers.ts";
import { parseStoreText, type AuthStore, type CredentialType } from "./store.ts";

type Doc = Record<string, any>;

/** The credential fields of each type; everything else on a profile is "unknown" and kept on replace. */
const CREDENTIAL_FIELDS = [
  "type", "provider", "key", "keyRef", "token", "tokenRef", "expires", "access", "refresh", "accountId", "projectId",
  "enterpriseUrl", "clientId", "idToken", "external", "email", "mode", "apiKey",
];

/** A credential to store with `upsertProfile`. */
export interface Credential {
  type: CredentialType;
  provider: string;
  key?: string;
  keyRef?: unknown;
  token?: string;
  tokenRef?: unknown;
  expires?: number;
  access?: string;
  refresh?: string;
  accountId?: string;
  email?: string;
  idToken?: string;
  external?: { source: string; path: string; importedAt: number };
}

function ensureCanonical(doc: Doc | null): Doc {
  const d: Doc = doc ?? dict();
  if (!d.profiles || typeof d.profiles !== "object") d.profiles = dict();
  return d;
}

function clearWindows(stats: Doc | undefined): void {
  if (!stats) return;
  for (const k of ["cooldownUntil", "cooldownReason", "cooldownModel", "disabledUntil", "disabledReason", "errorCount", "failureCounts", "needsRelogin"]) {
    delete stats[k];
  }
}

/**
 * `upsertProfile(id, cred)` (03 §5): set `profiles[id]` to the canonical credential, keeping unknown fields of an
 * old entry of the same type; with a ref the plaintext field is not written. Clears the usage windows/counters
 * (keeps `lastUsed`, `lastFailureAt`).
 * @returns the document (created when `doc` is null) and whether an entry existed before
 */
export function upsertProfile(doc: Doc | null, id: string, cred: Credential): { doc: Doc; replaced: boolean } {
  const d = ensureCanonical(doc);
  const old = d.profiles[id];
  // Unknown fields are copied by name, and `__proto__` is a name like any other.
  const next: Doc = dict();
  if (old && typeof old === "object" && (old.type ?? old.mode) === cred.type) {
    for (const [k, v] of Object.entries(old)) if (!CREDENTIAL_FIELDS.includes(k)) next[k] = v;
  }
  const canonical: Doc = { type: cred.type, provider: cred.provider };
  for (const k of ["email", "key", "keyRef", "token", "tokenRef", "expires", "access", "refresh", "accountId", "idToken", "external"] as const) {
    if (cred[k] !== undefined) canonical[k] = cred[k];
  }
  if (canonical.keyRef !== undefined) delete canonical.key;
  if (canonical.tokenRef !== undefined) delete canonical.token;
  d.profiles[id] = { ...canonical, ...next };
  const stats = d.usageStats?.[id];
  if (stats && typeof stats === "object") {
    clearWindows(stats);
    if (Object.keys(stats).length === 0) delete d.usageStats[id];
  }
  return { doc: d, replaced: old !== undefined };
}

/**
 * `removeProfile(id)` (03 §5): profile, usageStats, lastGood entries naming it, and the id in every order list
 * (empty lists and an empty `order` are deleted).
 * @returns whether anything changed
 */
export function removeProfile(d: Doc, id: string): boolean {
  let changed = false;
  if (d.profiles && id in d.profiles) {
    delete d.profiles[id];
    changed = true;
  }
  if (d.usageStats && id in d.usageStats) {
    delete d.usageStats[id];
    changed = true;
  }
  if (d.lastGood && typeof d.lastGood === "object") {
    for (const [p, v] of Object.entries(d.lastGood)) {
      if (v === id) {
        delete d.lastGood[p];
        changed = true;
      }
    }
  }
  if (d.order && typeof d.order === "object") {
    for (const [p, list] of Object.entries(d.order)) {
      if (!Array.isArray(list) || !list.includes(id)) continue;
      const rest = list.filter((x) => x !== id);
      if (rest.length) d.order[p] = rest;
      else delete d.order[p];
      changed = true;
    }
    if (Object.keys(d.order).length === 0) delete d.order;
  }
  return changed;
}

/** Trim, drop blanks, de-duplicate (first wins). */
export function cleanIds(ids: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of ids) {
    const id = raw.trim();
    if (id && !out.includes(id)) out.push(id);
  }
  return out;
}

/**
 * `setOrder(p, ids)` (03 §5): replaces the key whose normalised form equals `p`, else adds key `p`; an empty
 * list clears it.
 */
export function setOrder(doc: Doc | null, providerId: string, ids: readonly string[]): Doc {
  const d = ensureCanonical(doc);
  const list = cleanIds(ids);
  if (list.length === 0) {
    clearOrder(d, providerId);
    return d;
  }
  if (!d.order || typeof d.order !== "object") d.order = dict();
  const key = findProviderKey(d.order, providerId) ?? providerId;
  d.order[key] = list;
  return d;
}

/** `clearOrder(p)` (03 §5). @returns whether a key was deleted */
export function clearOrder(d: Doc, providerId: string): boolean {
  if (!d.order || typeof d.order !== "object") return false;
  const key = findProviderKey(d.order, providerId);
  if (key === undefined) return false;
  delete d.order[key];
  if (Object.keys(d.order).length === 0) delete d.order;
  return true;
}

function statsOf(d: Doc, id: string): Doc | undefined {
  const s = d.usageStats?.[id];
  return s && typeof s === "object" ? s : undefined;
}

function setStats(d: Doc, id: string, stats: object): void {
  if (!d.usageStats || typeof d.usageStats !== "object") d.usageStats = dict();
  d.usageStats[id] = stats;
}

/**
 * `markSuccess(id, p)` (03 §5): `lastUsed = now`, counters and windows cleared, `lastGood[p] = id` when the
 * profile's provider normalises to `p`. A profile removed meanwhile is not re-created.
 * @returns whether anything changed
 */
export function markSuccess(d: Doc, id: string, providerId: string, now: number): boolean {
  const profile = d.profiles?.[id];
  if (!profile) return false;
  setStats(d, id, nextStatsAfterSuccess(statsOf(d, id), now));
  if (typeof profile.provider === "string" && normalizeAuthProviderId(profile.provider) === providerId) {
    if (!d.lastGood || typeof d.lastGood !== "object") d.lastGood = dict();
    d.lastGood[providerId] = id;
  }
  return true;
}

/**
 * `markFailure(id, reason, model?)` (03 §7). No-op for a missing profile, openrouter, or a reason that is not
 * recordable.
 * @returns the new stats, or undefined when nothing changed
 */
export function markFailure(d: Doc, id: string, reason: string, now: number, config: JarvisConfig, model?: string) {
  const profile = d.profiles?.[id];
  if (!profile || typeof profile.provider !== "string") return undefined;
  const provider = normalizeAuthProviderId(profile.provider);
  if (neverCoolsDown(provider) || !isRecordableReason(reason)) return undefined;
  const next = nextStatsAfterFailure(statsOf(d, id), reason, provider, now, cooldownSettings(config), model);
  setStats(d, id, next);
  return next;
}

/** `setNeedsRelogin(id, reason)` (03 §5). @returns whether the profile exists */
export function setNeedsRelogin(d: Doc, id: string, reason: string, now: number): boolean {
  if (!d.profiles?.[id]) return false;
  setStats(d, id, { ...(statsOf(d, id) ?? {}), needsRelogin: { reason, at: now } });
  return true;
}

/**
 * `updateOAuth(id, tokens)` (03 §5): merge new tokens into an oauth profile, keep every other field, drop
 * `needsRelogin`. `refresh` only when a new one was issued.
 */
export function updateOAuth(
  d: Doc,
  id: string,
  tokens: { access: string; refresh?: string; expires: number; accountId?: string; email?: string; idToken?: string },
): boolean {
  const p = d.profiles?.[id];
  if (!p) return false;
  p.type = "oauth";
  p.access = tokens.access;
  if (tokens.refresh) p.refresh = tokens.refresh;
  p.expires = tokens.expires;
  for (const k of ["accountId", "email", "idToken"] as const) if (tokens[k] !== undefined) p[k] = tokens[k];
  const s = statsOf(d, id);
  if (s) delete s.needsRelogin;
  return true;
}

/**
 * Writers never rewrite a legacy-flat store (03 §4 last paragraph): only `doctor --fix` migrates it, with a backup.
 * Called inside the lock, and before any prompt by commands that take input first.
 * @throws JarvisError store_legacy_flat (exit 1)
 */
export function assertNotLegacyFlat(store: AuthStore): void {
  if (store.status === "legacy_flat") {
    throw new JarvisError(
      "store_legacy_flat",
      "auth-profiles.json uses the legacy flat layout; run jarvis doctor --fix to migrate it (a backup is kept)",
    );
  }
}

/**
 * Read side used inside the lock: the file must be a valid canonical store (or missing).
 * @throws JarvisError store_invalid / store_version / store_legacy_flat
 */
export function readStoreForWrite(text: string | null, path: string): { doc: Doc | null; store: AuthStore | null } {
  if (text === null) return { doc: null, store: null };
  const store = parseStoreText(text, path);
  assertNotLegacyFlat(store);
  return { doc: toDict(JSON.parse(text)) as Doc, store };
}

/**
 * Apply `change` to the store at `path` under its lock (03 §4). `change` gets the fresh raw document (null when
 * missing) and the parsed view, and returns the next document (or undefined for "nothing to change") with a result.
 * @throws JarvisError lock_timeout, store_invalid, store_legacy_flat, or what `change` throws; nothing is written then
 */
export async function mutateStore<R>(
  path: string,
  change: (doc: Doc | null, store: AuthStore | null) => { doc: Doc | undefined; result: R },
): Promise<{ result: R; wrote: boolean }> {
  return updateJsonFile(path, {
    label: "auth store",
    read: (text) => readStoreForWrite(text, path),
    mutate: ({ doc, store }) => {
      const out = change(doc === null ? null : toDict(doc), store);
      return { ...out, doc: out.doc === undefined ? undefined : withVersion(out.doc) };
    },
  });
}

/** Every written store carries `"version": 1` (03 §1 "written as 1"); a file without one gets it first. */
function withVersion(doc: Doc): Doc {
  if (doc.version === 1) return doc;
  const out = dict();
  out.version = 1;
  for (const [k, v] of Object.entries(doc)) if (k !== "version") out[k] = v;
  return out;
}
