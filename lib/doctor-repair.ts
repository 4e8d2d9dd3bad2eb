/**
 * `jarvis doctor --fix` (spec 09 §1.2): the pure store migration that both detects and repairs store findings, the
 * legacy-file imports, the verification of a migration, and the I/O that applies repairs (timestamped backups,
 * locked store/config writes, chmod, stale lock and temp file removal, OAuth refresh).
 */
import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { isPlainObject } from "./_utils.ts";
import { atomicWriteFile, readIfExists, updateJsonFile } from "./atomic.ts";
import { withFileLock } from "./lock.ts";
import { editConfig } from "./config-edit.ts";
import { isoTime } from "./duration.ts";
import { errnoCode } from "./errors.ts";
import { oauthSettings, refreshProfile, type RefreshContext } from "./oauth.ts";
import { normalizeAuthProviderId } from "./providers.ts";
import { coerceSecretRef } from "./secret-ref.ts";
import { loadStore, parseStoreText, TYPE_ALIASES } from "./store.ts";
import { readStoreForWrite } from "./store-write.ts";
import { dict, own } from "./dict.ts";

type Doc = Record<string, any>;

const isObject = (v: unknown): v is Doc => isPlainObject(v);

/** `YYYYMMDDTHHMMSSZ` (UTC) for backup and `.migrated-` names. */
export function fileStamp(now: number): string {
  return isoTime(now).replace(/[-:]/g, "");
}

/** What canonicalising one entry changed (field-level, in the order applied). */
export interface EntryChanges {
  /** Alias notes in the wording of the store warning: `mode→type`, `apiKey→key`, `type apiKey→api_key`. */
  aliases: string[];
  /** `expires` multiplied by 1000 (it looked like seconds). */
  expiresFrom?: number;
  /** Plaintext field dropped because a valid ref of the same credential exists. */
  dropped?: "key" | "token";
}

/** Rename `from` to `to` in place of its key position (so the file keeps its field order). */
function renameKey(entry: Doc, from: string, to: string): Doc {
  const out: Doc = dict();
  for (const [k, v] of Object.entries(entry)) out[k === from ? to : k] = v;
  return out;
}

/**
 * Canonicalise one raw profile entry (09 §1.2): copy it whole and change only the affected fields — `mode`→`type`
 * and `apiKey`→`key` when the canonical field is absent, `type` aliases → `api_key`, a seconds-looking `expires`
 * (1e9 ≤ x < 1e11, token/oauth) × 1000, and the plaintext `key`/`token` dropped when a valid `keyRef`/`tokenRef`
 * exists. Unknown fields, `keyRef`, `tokenRef`, `clientId`, `idToken`, `accountId`, `metadata` … are kept as they are.
 */
export function canonicalEntry(entry: unknown): { entry: unknown; changes: EntryChanges } {
  const changes: EntryChanges = { aliases: [] };
  if (!isObject(entry)) return { entry, changes };
  let e: Doc = { ...entry };
  if (e.type === undefined && e.mode !== undefined) {
    e = renameKey(e, "mode", "type");
    changes.aliases.push("mode→type");
  }
  if (typeof e.type === "string" && own(TYPE_ALIASES, e.type)) {
    changes.aliases.push(`type ${e.type}→api_key`);
    e.type = TYPE_ALIASES[e.type];
  }
  if (e.key === undefined && e.apiKey !== undefined) {
    e = renameKey(e, "apiKey", "key");
    changes.aliases.push("apiKey→key");
  }
  if ((e.type === "token" || e.type === "oauth") && typeof e.expires === "number" && e.expires >= 1e9 && e.expires < 1e11) {
    changes.expiresFrom = e.expires;
    e.expires = e.expires * 1000;
  }
  const validRef = (v: unknown) => {
    const c = coerceSecretRef(v);
    return c !== null && "ref" in c;
  };
  if (e.type === "api_key" && e.key !== undefined && validRef(e.keyRef)) {
    delete e.key;
    changes.dropped = "key";
  } else if (e.type === "token" && e.token !== undefined && validRef(e.tokenRef)) {
    delete e.token;
    changes.dropped = "token";
  }
  return { entry: e, changes };
}

const entryChanged = (c: EntryChanges) => c.aliases.length > 0 || c.expiresFrom !== undefined || c.dropped !== undefined;

/** Everything `planStoreRepair` would change, by kind. */
export interface StorePlan {
  /** The document to write, or undefined when nothing changes. */
  next: Doc | undefined;
  legacyFlat: boolean;
  /** Original profile id → id in the new document (differs only for legacy provider keys). */
  idMap: Record<string, string>;
  entries: Record<string, EntryChanges>;
  /** Store `order` ids removed per provider key. */
  orderRemoved: Record<string, string[]>;
}

/** Raw profile entries of a store document: `profiles` of v1, or the legacy flat mapping of 03 §2. */
export function rawProfiles(doc: Doc, legacyFlat: boolean): { entries: Doc; idMap: Record<string, string> } {
  if (!legacyFlat) return { entries: isObject(doc.profiles) ? doc.profiles : {}, idMap: {} };
  // Null-prototype maps: profile ids such as `__proto__` are valid (03 §1) and must not become the prototype.
  const entries: Doc = dict();
  const idMap = dict<string>();
  const explicit = new Set(Object.keys(doc).filter((k) => k.includes(":")));
  for (const [k, v] of Object.entries(doc)) {
    if (k.includes(":")) {
      entries[k] = v;
      continue;
    }
    let id = `${k}:default`;
    // A flat provider key must not overwrite an explicit `<p>:default` entry (lossless).
    for (let n = 2; explicit.has(id) || id in entries; n++) id = `${k}:default-${n}`;
    entries[id] = isObject(v) && v.provider === undefined ? { provider: k, ...v } : v;
    idMap[k] = id;
  }
  return { entries, idMap };
}

/**
 * Plan every content repair of a store document (03 §2 shapes, 09 §1.1 store rows): legacy flat → v1, aliases,
 * seconds expiries, plaintext next to a ref, dangling `order` ids. Pure; the same plan drives the findings (what is
 * wrong) and the repair (what to write).
 */
export function planStoreRepair(doc: Doc, legacyFlat: boolean): StorePlan {
  const { entries, idMap } = rawProfiles(doc, legacyFlat);
  const profiles: Doc = dict();
  const changes = dict<EntryChanges>();
  for (const [id, entry] of Object.entries(entries)) {
    const r = canonicalEntry(entry);
    profiles[id] = r.entry;
    if (entryChanged(r.changes)) changes[id] = r.changes;
  }
  const orderRemoved = dict<string[]>();
  let next: Doc;
  if (legacyFlat) next = { version: 1, profiles };
  else {
    next = { ...doc };
    if (isObject(doc.profiles)) next.profiles = profiles;
    if (isObject(doc.order)) {
      const order: Doc = dict();
      for (const [p, list] of Object.entries(doc.order)) {
        if (!Array.isArray(list)) {
          order[p] = list;
          continue;
        }
        const want = normalizeAuthProviderId(p);
        const dangling = list.filter((id) => {
          if (typeof id !== "string") return false;
          const entry = profiles[id.trim()];
          if (entry === undefined) return true;
          return isObject(entry) && typeof entry.provider === "string" && normalizeAuthProviderId(entry.provider) !== want;
        });
        if (dangling.length === 0) order[p] = list;
        else {
          orderRemoved[p] = dangling;
          const rest = list.filter((id) => !dangling.includes(id));
          if (rest.length > 0) order[p] = rest;
        }
      }
      if (Object.keys(order).length > 0) next.order = order;
      else delete next.order;
    }
  }
  const changed = legacyFlat || Object.keys(changes).length > 0 || Object.keys(orderRemoved).length > 0;
  return { next: changed ? next : undefined, legacyFlat, idMap, entries: changes, orderRemoved };
}

/**
 * Compare a migrated entry with its original field by field (09 §1.2 "verified"): every original field must be there
 * under its canonical name with its value (× 1000 for a fixed expiry), except a plaintext field dropped for a ref.
 * @returns the first difference, or undefined
 */
export function entryDifference(id: string, original: unknown, migrated: unknown, c: EntryChanges | undefined): string | undefined {
  if (!isObject(original)) return isDeepStrictEqual(original, migrated) ? undefined : `${id} changed`;
  if (!isObject(migrated)) return `${id} is missing after the migration`;
  for (const [k, v] of Object.entries(original)) {
    let name = k;
    let want: unknown = v;
    if (k === "mode" && original.type === undefined) name = "type";
    if (k === "apiKey" && original.key === undefined) name = "key";
    if (name === "type" && typeof want === "string" && own(TYPE_ALIASES, want)) want = TYPE_ALIASES[want];
    if (k === "expires" && c?.expiresFrom !== undefined) want = c.expiresFrom * 1000;
    if (c?.dropped === name) continue;
    if (!isDeepStrictEqual(migrated[name], want)) return `${id}.${k} differs after the migration`;
  }
  return undefined;
}

/** Verify a written store against the document it was migrated from. @returns the first difference, or undefined */
export function storeDifference(before: Doc, plan: StorePlan, after: Doc): string | undefined {
  const { entries } = rawProfiles(before, plan.legacyFlat);
  const migrated = isObject(after.profiles) ? after.profiles : {};
  for (const [id, entry] of Object.entries(entries)) {
    const d = entryDifference(id, entry, migrated[id], plan.entries[id]);
    if (d) return d;
  }
  if (!plan.legacyFlat) {
    for (const [k, v] of Object.entries(before)) {
      if (k === "profiles" || k === "order") continue;
      if (!isDeepStrictEqual(after[k], v)) return `${k} differs after the migration`;
    }
  }
  return undefined;
}

/** Which credential type a legacy entry without `type`/`mode` holds, judged by its fields. */
function inferType(entry: Doc): string | undefined {
  if (entry.key !== undefined || entry.apiKey !== undefined || entry.keyRef !== undefined) return "api_key";
  if (entry.token !== undefined || entry.tokenRef !== undefined) return "token";
  if (entry.access !== undefined || entry.refresh !== undefined) return "oauth";
  return undefined;
}

/** One legacy entry to import: the profile id and the canonical entry (or why it is not imported). */
export interface LegacyImport {
  source: string;
  profileId: string;
  entry?: Doc;
  changes?: EntryChanges;
  skipped?: string;
}

/**
 * Plan the import of a legacy credential file (09 §1.1 `legacy.*`, 08 §6): each top-level entry becomes
 * `<provider>:default` (a key with `:` keeps its id); the entry is copied whole, given its provider and, for
 * `oauth.json`, `type: "oauth"`; ids that already exist in the store are skipped.
 * @param kind `auth_json` (`<agentDir>/auth.json`) or `oauth_json` (`$STATE/credentials/oauth.json`)
 * @param existing profile ids already in the store
 */
export function planLegacyImport(doc: unknown, kind: "auth_json" | "oauth_json", existing: ReadonlySet<string>): LegacyImport[] {
  if (!isObject(doc)) return [];
  const out: LegacyImport[] = [];
  const taken = new Set(existing);
  for (const [key, value] of Object.entries(doc)) {
    const provider = key.includes(":") ? key.slice(0, key.indexOf(":")) : key;
    const profileId = key.includes(":") ? key : `${key}:default`;
    if (!isObject(value)) {
      out.push({ source: key, profileId, skipped: "not an object" });
      continue;
    }
    if (taken.has(profileId)) {
      out.push({ source: key, profileId, skipped: "id already in the store" });
      continue;
    }
    let entry: Doc = { ...value };
    if (kind === "oauth_json" && entry.type === undefined && entry.mode === undefined) entry = { type: "oauth", ...entry };
    if (entry.type === undefined && entry.mode === undefined) {
      const t = inferType(entry);
      if (t) entry = { type: t, ...entry };
    }
    if (entry.provider === undefined) entry = { ...entry, provider };
    const r = canonicalEntry(entry);
    taken.add(profileId);
    out.push({ source: key, profileId, entry: r.entry as Doc, changes: r.changes });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------------------------
// Applying repairs (I/O)

/** The outcome of one repair; `backup` = the backup of the file it changed (also when it failed after a change). */
export type RepairOutcome = { ok: true; backup?: string } | { ok: false; error: string; backup?: string };

/** Backups taken in this run, by file: the original bytes are copied once, before the first content change. */
export class Backups {
  private readonly taken = new Map<string, string>();
  constructor(private readonly stamp: string) {}

  /**
   * Copy `text` (the bytes of `file` as read under its lock) to `<file>.bak-<stamp>` (0600) unless already done.
   * @returns the backup path
   */
  take(file: string, text: string): string {
    const done = this.taken.get(file);
    if (done) return done;
    let p = `${file}.bak-${this.stamp}`;
    for (let n = 2; fs.existsSync(p); n++) p = `${file}.bak-${this.stamp}-${n}`;
    atomicWriteFile(p, text);
    this.taken.set(file, p);
    return p;
  }

  /** The backup of `file` taken in this run, if any. */
  of(file: string): string | undefined {
    return this.taken.get(file);
  }

  /**
   * Undo a `take` whose change did not happen (09 §1.2: a backup only accompanies a content change, so a repair that
   * wrote nothing leaves no backup behind and a repeated `--fix` creates none).
   */
  discard(file: string): void {
    const p = this.taken.get(file);
    if (p === undefined) return;
    fs.rmSync(p, { force: true });
    this.taken.delete(file);
  }
}

/**
 * Put a backup back in place of `file` after a failed verification: an atomic write like every other (03 §4). The
 * caller holds the file's lock.
 */
function restoreBackup(file: string, backup: string): void {
  atomicWriteFile(file, fs.readFileSync(backup, "utf8"));
}

/**
 * Migrate the store in place (09 §1.2): lock → re-read → plan → backup → atomic write → re-read and compare every
 * original field; on any difference the backup is restored and the result is `doctor.migration_failed`. The lock is
 * held from the re-read to the restore, so another writer's change is never judged, or overwritten, as ours.
 */
export async function repairStore(storePath: string, backups: Backups): Promise<RepairOutcome> {
  const had = backups.of(storePath) !== undefined;
  try {
    return await withFileLock(storePath, () => migrateAndVerify(storePath, backups, had), { label: "auth store" });
  } catch (e) {
    return failedAfter(e, backups, storePath, had);
  }
}

async function migrateAndVerify(storePath: string, backups: Backups, had: boolean): Promise<RepairOutcome> {
  const r = await updateJsonFile(storePath, {
    label: "auth store",
    read: (text) => {
      if (text === null) return null;
      const store = parseStoreText(text, storePath);
      return { text, doc: JSON.parse(text) as Doc, legacyFlat: store.status === "legacy_flat" };
    },
    mutate: (cur) => {
      if (!cur) return { doc: undefined, result: undefined };
      const plan = planStoreRepair(cur.doc, cur.legacyFlat);
      if (!plan.next) return { doc: undefined, result: undefined };
      const backup = backups.take(storePath, cur.text);
      return { doc: plan.next, result: { before: cur.doc, plan, backup } };
    },
  });
  if (!r.result || !r.wrote) {
    if (!had) backups.discard(storePath);
    return { ok: true };
  }
  const { before, plan, backup } = r.result;
  const diff = storeDifference(before, plan, JSON.parse(fs.readFileSync(storePath, "utf8")) as Doc);
  if (diff) {
    restoreBackup(storePath, backup);
    return { ok: false, error: `migration of ${storePath} failed verification (${diff}); the backup was restored`, backup };
  }
  return { ok: true, backup };
}

/**
 * The outcome of a repair that threw: a backup it took stays (the file may have changed) and is named, unless the
 * file still holds the backed-up bytes — then nothing changed and the backup is dropped.
 */
function failedAfter(e: unknown, backups: Backups, file: string, had: boolean): RepairOutcome {
  const error = e instanceof Error ? e.message : String(e);
  const backup = backups.of(file);
  if (backup === undefined) return { ok: false, error };
  if (!had && sameBytes(file, backup)) {
    backups.discard(file);
    return { ok: false, error };
  }
  return { ok: false, error, backup };
}

/** Whether two files hold the same bytes (false when either cannot be read). */
function sameBytes(a: string, b: string): boolean {
  try {
    return fs.readFileSync(a).equals(fs.readFileSync(b));
  } catch {
    return false;
  }
}

/**
 * Import a legacy credential file into the store (09 §1.1 `legacy.auth_json` / `legacy.oauth_json`), verify the
 * imported entries by re-reading the store, then rename the source to `<file>.migrated-<stamp>`.
 */
export async function importLegacyFile(
  file: string,
  kind: "auth_json" | "oauth_json",
  storePath: string,
  backups: Backups,
  stamp: string,
): Promise<RepairOutcome> {
  let source: unknown;
  try {
    source = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    return { ok: false, error: `${file} cannot be read as JSON (${errnoCode(e) ?? "invalid JSON"})` };
  }
  const had = backups.of(storePath) !== undefined;
  try {
    return await withFileLock(storePath, () => importAndVerify(file, source, kind, storePath, backups, had, stamp), { label: "auth store" });
  } catch (e) {
    return failedAfter(e, backups, storePath, had);
  }
}

/** The locked part of `importLegacyFile`: write, verify (restoring the backup on a difference), rename the source. */
async function importAndVerify(
  file: string,
  source: unknown,
  kind: "auth_json" | "oauth_json",
  storePath: string,
  backups: Backups,
  had: boolean,
  stamp: string,
): Promise<RepairOutcome> {
  const r = await updateJsonFile(storePath, {
    label: "auth store",
    read: (text) => ({ text, ...readStoreForWrite(text, storePath) }),
    mutate: (cur) => {
      const doc: Doc = cur.doc ?? { version: 1, profiles: {} };
      if (!isObject(doc.profiles)) doc.profiles = {};
      const plan = planLegacyImport(source, kind, new Set(Object.keys(doc.profiles)));
      const imports = plan.filter((i) => i.entry);
      if (imports.length === 0) return { doc: undefined, result: [] as LegacyImport[] };
      if (cur.text !== null) backups.take(storePath, cur.text);
      for (const i of imports) doc.profiles[i.profileId] = i.entry;
      return { doc, result: imports };
    },
  });
  if (!r.wrote && !had) backups.discard(storePath);
  if (r.wrote) {
    const after = JSON.parse(fs.readFileSync(storePath, "utf8")) as Doc;
    for (const i of r.result) {
      const original = (source as Doc)[i.source];
      const d = entryDifference(i.profileId, i.entry, after.profiles?.[i.profileId], undefined) ??
        (isObject(original) ? legacySourceDifference(i, original, after.profiles?.[i.profileId]) : undefined);
      if (d) {
        const backup = backups.of(storePath);
        if (backup) restoreBackup(storePath, backup);
        return { ok: false, error: `import of ${file} failed verification (${d})${backup ? "; the backup was restored" : ""}`, backup };
      }
    }
  }
  fs.renameSync(file, `${file}.migrated-${stamp}`);
  return { ok: true, backup: backups.of(storePath) };
}

/** Every field of a legacy source entry must survive the import under its canonical name. */
function legacySourceDifference(i: LegacyImport, original: Doc, migrated: unknown): string | undefined {
  return entryDifference(i.profileId, original, migrated, i.changes);
}

/** Config content repairs collected from findings (09 §1.1 `config.order_dangling`, `config.mode_mismatch`). */
export interface ConfigRepair {
  /** `auth.order.<key>` → ids to remove. */
  orderRemove: Record<string, string[]>;
  /** `auth.profiles.<id>.mode` → new mode. */
  modes: Record<string, string>;
}

/** Apply a ConfigRepair to the raw config document. @returns whether it changed */
function applyConfigRepair(doc: Doc, r: ConfigRepair): boolean {
  let changed = false;
  const order = doc.auth?.order;
  for (const [p, ids] of Object.entries(r.orderRemove)) {
    if (!isObject(order) || !Array.isArray(order[p])) continue;
    const rest = order[p].filter((x: unknown) => !ids.includes(x as string));
    if (rest.length === order[p].length) continue;
    if (rest.length > 0) order[p] = rest;
    else delete order[p];
    changed = true;
  }
  for (const [id, mode] of Object.entries(r.modes)) {
    const entry = doc.auth?.profiles?.[id];
    if (!isObject(entry) || entry.mode === mode) continue;
    entry.mode = mode;
    changed = true;
  }
  return changed;
}

/** Config repairs under the config lock (01 §4), with the timestamped backup taken inside the lock. */
export async function repairConfig(configPath: string, repair: ConfigRepair, backups: Backups, show: (p: string) => string): Promise<RepairOutcome> {
  const had = backups.of(configPath) !== undefined;
  try {
    const wrote = await editConfig(
      configPath,
      (doc) => {
        if (!applyConfigRepair(doc, repair)) return false;
        backups.take(configPath, fs.readFileSync(configPath, "utf8"));
        return true;
      },
      show,
    );
    if (!wrote && !had) backups.discard(configPath);
    return { ok: true, backup: backups.of(configPath) };
  } catch (e) {
    return failedAfter(e, backups, configPath, had);
  }
}

/** Tighten a mode: drop group/other bits, never add any (09 §1.2 "Modes are only ever tightened"). */
export function repairMode(file: string): RepairOutcome {
  try {
    const mode = fs.statSync(file).mode & 0o7777;
    const next = mode & ~0o077;
    if (next !== mode) fs.chmodSync(file, next);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: `chmod ${file} failed (${errnoCode(e) ?? String(e)})` };
  }
}

/** Remove a stale lock (or a leftover temp file) only if its bytes are still the ones judged (03 §4). */
export function removeIfUnchanged(file: string, bytes: string | undefined): RepairOutcome {
  try {
    if (bytes !== undefined && fs.readFileSync(file).toString("base64") !== bytes) {
      return { ok: false, error: `${file} changed since it was checked; left alone` };
    }
    fs.unlinkSync(file);
    return { ok: true };
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return { ok: true };
    return { ok: false, error: `cannot remove ${file} (${errnoCode(e) ?? String(e)})` };
  }
}

/**
 * Refresh an expired OAuth profile once (08 §4). A refresh that cannot run (no OAuth login configured for the provider,
 * a bad URL, an unresolvable client secret) fails before anything is touched. Otherwise the store is backed up first,
 * since a refresh may rewrite it (new tokens, or `needsRelogin` on a rejection); when the store still holds the
 * backed-up bytes afterwards (e.g. the token endpoint was unreachable) that backup is dropped (09 §1.2: backups only
 * accompany a content change; a failed refresh stays a finding and a repeated `--fix` writes no backup).
 * @returns the backup whenever the store changed, on success and on failure
 */
export async function repairRefresh(ctx: RefreshContext, profileId: string, backups: Backups): Promise<RepairOutcome> {
  const had = backups.of(ctx.storePath) !== undefined;
  try {
    const profile = loadStore(ctx.storePath).profiles[profileId];
    if (profile?.type === "oauth" && !profile.external) await oauthSettings(normalizeAuthProviderId(profile.provider), ctx.config, ctx);
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  try {
    const before = fs.readFileSync(ctx.storePath, "utf8");
    const backup = backups.take(ctx.storePath, before);
    const r = await refreshProfile(ctx, profileId, false);
    const changed = readIfExists(ctx.storePath) !== before;
    if (!changed && !had) backups.discard(ctx.storePath);
    const kept = changed ? backup : undefined;
    return r.ok ? { ok: true, ...(kept ? { backup: kept } : {}) } : { ok: false, error: r.message, ...(kept ? { backup: kept } : {}) };
  } catch (e) {
    return failedAfter(e, backups, ctx.storePath, had);
  }
}
