/**
 * Reading the auth store `auth-profiles.json` (spec 03 §1–§2): parse with positions, shape detection (canonical v1,
 * legacy flat), read-side aliases, per-entry validation with typebox (the original object is kept for writing),
 * order / usageStats sanitising. Loading never writes, locks or creates anything (03 §3).
 */
import fs from "node:fs";
import { Type, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { isPlainObject, hasText } from "./_utils.ts";
import { JarvisError, errnoCode } from "./errors.ts";
import { findJsonError } from "./json-pos.ts";
import { dict, own, toDict } from "./dict.ts";
import { isSecretRefShaped } from "./secret-ref.ts";

export type CredentialType = "api_key" | "token" | "oauth";

export interface UsageStats {
  lastUsed?: number;
  cooldownUntil?: number;
  cooldownReason?: string;
  cooldownModel?: string;
  disabledUntil?: number;
  disabledReason?: string;
  errorCount?: number;
  failureCounts?: Record<string, number>;
  lastFailureAt?: number;
  needsRelogin?: { reason: string; at: number };
}

/** A validated profile (aliases applied, in memory). Unknown fields are carried along. */
export interface Profile {
  type: CredentialType;
  provider: string;
  email?: string;
  key?: string;
  keyRef?: unknown;
  token?: string;
  tokenRef?: unknown;
  expires?: unknown;
  access?: string;
  refresh?: string;
  accountId?: string;
  external?: { source: string; path: string; importedAt?: number };
  metadata?: Record<string, string>;
  [field: string]: unknown;
}

export interface InvalidProfile {
  profileId: string;
  reason: "non_object" | "invalid_type" | "missing_provider" | "invalid_field" | "oauth_with_ref" | "invalid_id";
  detail: string;
  /** The entry's `provider` when it is a non-blank string (for sorting reports; not printed). */
  provider?: string;
}

export interface StoreWarning {
  code: string;
  message: string;
}

export interface AuthStore {
  path: string;
  status: "ok" | "missing" | "legacy_flat";
  /** The parsed document as on disk (null when missing). */
  doc: Record<string, unknown> | null;
  profiles: Record<string, Profile>;
  invalid: InvalidProfile[];
  order: Record<string, string[]>;
  lastGood: Record<string, string>;
  usageStats: Record<string, UsageStats>;
  warnings: StoreWarning[];
}

/** Profile id rule (03 §1): 1–128 chars, no whitespace, no `/`, no control characters. */
export function isValidProfileId(id: string): boolean {
  // eslint-disable-next-line no-control-regex
  return id.length >= 1 && id.length <= 128 && !/[\s/\u0000-\u001f\u007f-\u009f]/.test(id);
}

const RefOrString = Type.Union([Type.String(), Type.Object({})], { expected: "expected SecretRef object" });
const Common = {
  type: Type.String(),
  provider: Type.String(),
  email: Type.Optional(Type.String({ expected: "expected string" })),
};
const SCHEMAS: Record<CredentialType, TSchema> = {
  api_key: Type.Object({
    ...Common,
    key: Type.Optional(Type.String({ expected: "expected string" })),
    keyRef: Type.Optional(RefOrString),
    metadata: Type.Optional(Type.Record(Type.String(), Type.String(), { expected: "expected object of strings" })),
  }),
  token: Type.Object({
    ...Common,
    token: Type.Optional(Type.String({ expected: "expected string" })),
    tokenRef: Type.Optional(RefOrString),
  }),
  oauth: Type.Object({
    ...Common,
    access: Type.Optional(Type.String({ expected: "expected string" })),
    refresh: Type.Optional(Type.String({ expected: "expected string" })),
    accountId: Type.Optional(Type.String({ expected: "expected string" })),
    projectId: Type.Optional(Type.String({ expected: "expected string" })),
    enterpriseUrl: Type.Optional(Type.String({ expected: "expected string" })),
    clientId: Type.Optional(Type.String({ expected: "expected string" })),
    idToken: Type.Optional(Type.String({ expected: "expected string" })),
    external: Type.Optional(
      Type.Object(
        { source: Type.Union([Type.Literal("claude-code"), Type.Literal("codex")]), path: Type.String() },
        { expected: 'expected {source: "claude-code"|"codex", path}' },
      ),
    ),
  }),
};

// Field kinds of SCHEMAS, for a quick check that accepts only what the schema accepts. Status validates every
// profile on every run; typebox's interpretive check costs ~5 µs a profile cold, this a fraction of it. Anything the
// quick check does not accept goes to Value.Check / Value.Errors, which decide and explain.
const STRING_FIELDS: Record<CredentialType, readonly string[]> = {
  api_key: ["email", "key"],
  token: ["email", "token"],
  oauth: ["email", "access", "refresh", "accountId", "projectId", "enterpriseUrl", "clientId", "idToken"],
};

function quickValid(type: CredentialType, p: Record<string, unknown>): boolean {
  if (typeof p.type !== "string" || typeof p.provider !== "string") return false;
  for (const f of STRING_FIELDS[type]) if (p[f] !== undefined && typeof p[f] !== "string") return false;
  const ref = type === "api_key" ? p.keyRef : type === "token" ? p.tokenRef : undefined;
  if (ref !== undefined && typeof ref !== "string" && !isPlainObject(ref)) return false;
  if (type === "api_key" && p.metadata !== undefined) {
    if (!isPlainObject(p.metadata) || Object.values(p.metadata).some((v) => typeof v !== "string")) return false;
  }
  if (type === "oauth" && p.external !== undefined) {
    const e = p.external;
    if (!isPlainObject(e) || (e.source !== "claude-code" && e.source !== "codex") || typeof e.path !== "string") return false;
  }
  return true;
}

/** Read-side aliases of `type` (03 §2 step 1); doctor --fix writes the canonical `api_key`. */
export const TYPE_ALIASES: Readonly<Record<string, CredentialType>> = { apiKey: "api_key", "api-key": "api_key", apikey: "api_key" };

/** Any SecretRef-shaped value (a ref object or an exact `${NAME}` string) anywhere inside `v` (D14). */
function containsRef(v: unknown, depth = 0): boolean {
  if (isSecretRefShaped(v)) return true;
  if (depth > 8 || !v || typeof v !== "object") return false;
  return Object.values(v).some((x) => containsRef(x, depth + 1));
}

/**
 * Validate one entry (03 §2 step 1–2): apply aliases in memory, then check its fields by type.
 * @returns the canonical profile, or the invalid reason; `aliases` lists applied alias notes (`mode→type`).
 */
export function validateProfileEntry(
  id: string,
  entry: unknown,
): { profile: Profile; aliases: string[] } | { invalid: InvalidProfile } {
  const rawProvider = entry && typeof entry === "object" ? (entry as { provider?: unknown }).provider : undefined;
  const provider = hasText(rawProvider) ? rawProvider : undefined;
  const bad = (reason: InvalidProfile["reason"], detail: string) => ({
    invalid: { profileId: id, reason, detail, ...(provider !== undefined ? { provider } : {}) },
  });
  if (!isValidProfileId(id)) return bad("invalid_id", `profile id ${JSON.stringify(id)} breaks the id rule (1-128 chars, no whitespace, "/" or control characters)`);
  if (!entry || typeof entry !== "object" || Array.isArray(entry)) return bad("non_object", "entry is not an object");
  const src = entry as Record<string, unknown>;
  const p: Record<string, unknown> = { ...src };
  const aliases: string[] = [];
  if (p.type === undefined && p.mode !== undefined) {
    p.type = p.mode;
    aliases.push("mode→type");
  }
  if (typeof p.type === "string" && own(TYPE_ALIASES, p.type)) {
    aliases.push(`type ${p.type}→api_key`);
    p.type = TYPE_ALIASES[p.type];
  }
  if (p.key === undefined && p.apiKey !== undefined) {
    p.key = p.apiKey;
    aliases.push("apiKey→key");
  }
  const type = p.type;
  if (type !== "api_key" && type !== "token" && type !== "oauth") {
    return bad("invalid_type", `type ${JSON.stringify(type ?? null)} is not one of api_key, token, oauth`);
  }
  if (!hasText(p.provider)) return bad("missing_provider", "provider is missing or blank");
  if (type === "oauth" && (isSecretRefShaped(p) || Object.entries(p).some(([k, v]) => k !== "external" && containsRef(v)))) {
    return bad("oauth_with_ref", "oauth profiles cannot use SecretRefs (refresh rotates the tokens, so they must live in the store)");
  }
  const schema = SCHEMAS[type];
  if (!quickValid(type, p) && !Value.Check(schema, p)) {
    const err = Value.Errors(schema, p).First();
    if (err) {
      const expected = (err.schema as TSchema & { expected?: string }).expected ?? err.message.toLowerCase();
      return bad("invalid_field", `${err.path || "/"}: ${expected}`);
    }
  }
  return { profile: p as Profile, aliases };
}

function finite(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

const NUMERIC_STATS = ["lastUsed", "cooldownUntil", "disabledUntil", "errorCount", "lastFailureAt"] as const;

/** Sanitise one usageStats entry (03 §2 step 4): non-finite numeric fields are treated as absent. */
function sanitizeUsageStats(raw: unknown): UsageStats | undefined {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const src = raw as Record<string, unknown>;
  const out: Record<string, unknown> = { ...src };
  for (const k of NUMERIC_STATS) if (k in out && finite(out[k]) === undefined) delete out[k];
  if (out.failureCounts !== undefined && (typeof out.failureCounts !== "object" || out.failureCounts === null)) delete out.failureCounts;
  for (const k of ["cooldownReason", "cooldownModel", "disabledReason"]) if (k in out && typeof out[k] !== "string") delete out[k];
  if (out.needsRelogin !== undefined && (typeof out.needsRelogin !== "object" || out.needsRelogin === null)) delete out.needsRelogin;
  return out as UsageStats;
}

function describe(path: string) {
  return `${path} is not an auth store`;
}

/**
 * Interpret parsed JSON as an auth store (03 §2).
 * @throws JarvisError `store_invalid` for a document that is neither shape, or an unsupported version
 */
export function interpretStore(doc: unknown, path: string): AuthStore {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new JarvisError("store_invalid", describe(path));
  // Null-prototype copy of the two levels keyed by user input (the document, then `profiles` / `order` / `lastGood` /
  // `usageStats`, or a legacy flat store's ids): `__proto__` and `toString` are valid ids. Entries are shared.
  const d = toDict(doc, 2) as Record<string, unknown>;
  const warnings: StoreWarning[] = [];
  let rawProfiles: Record<string, unknown>;
  let status: AuthStore["status"] = "ok";
  const keys = Object.keys(d);
  if (keys.length === 0) rawProfiles = dict();
  else if (d.profiles && typeof d.profiles === "object" && !Array.isArray(d.profiles)) {
    rawProfiles = d.profiles as Record<string, unknown>;
  } else if (!("profiles" in d) && Object.values(d).every((v) => v && typeof v === "object" && !Array.isArray(v))) {
    status = "legacy_flat";
    rawProfiles = dict();
    for (const [k, v] of Object.entries(d)) {
      if (k.includes(":")) rawProfiles[k] = v;
      else rawProfiles[`${k}:default`] = { provider: k, ...(v as object) };
    }
    warnings.push({
      code: "legacy_flat_store",
      message: `${path} uses the legacy flat layout; run jarvis doctor --fix to migrate it (a backup is kept)`,
    });
  } else throw new JarvisError("store_invalid", describe(path));

  if (status === "ok" && keys.length > 0) {
    if (!("version" in d)) warnings.push({ code: "store_version_missing", message: `${path} has no "version"; treating it as version 1` });
    else if (d.version !== 1) {
      throw new JarvisError("store_version", `auth-profiles.json has version ${JSON.stringify(d.version)}; this jarvis understands version 1`);
    }
  }

  const profiles = dict<Profile>();
  const invalid: InvalidProfile[] = [];
  const aliasNotes: string[] = [];
  for (const [id, entry] of Object.entries(rawProfiles)) {
    const r = validateProfileEntry(id, entry);
    if ("invalid" in r) invalid.push(r.invalid);
    else {
      profiles[id] = r.profile;
      if (r.aliases.length) aliasNotes.push(`${id}: ${r.aliases.join(", ")}`);
    }
  }
  if (aliasNotes.length) {
    const n = aliasNotes.length;
    warnings.push({
      code: "alias_fields",
      message: `auth store: ${n} profile${n === 1 ? " uses" : "s use"} legacy field names (${aliasNotes.join("; ")}); run jarvis doctor --fix`,
    });
  }

  const order = dict<string[]>();
  if (status === "ok" && d.order && typeof d.order === "object" && !Array.isArray(d.order)) {
    for (const [p, list] of Object.entries(d.order as Record<string, unknown>)) {
      if (!Array.isArray(list)) {
        warnings.push({ code: "order_invalid", message: `auth store: order.${p} is not a list; ignored` });
        continue;
      }
      const ids: string[] = [];
      for (const x of list) if (hasText(x) && !ids.includes(x.trim())) ids.push(x.trim());
      order[p] = ids;
    }
  }
  const lastGood = dict<string>();
  if (status === "ok" && d.lastGood && typeof d.lastGood === "object") {
    for (const [p, v] of Object.entries(d.lastGood as Record<string, unknown>)) if (typeof v === "string") lastGood[p] = v;
  }
  const usageStats = dict<UsageStats>();
  if (status === "ok" && d.usageStats && typeof d.usageStats === "object") {
    for (const [id, v] of Object.entries(d.usageStats as Record<string, unknown>)) {
      const s = sanitizeUsageStats(v);
      if (s) usageStats[id] = s;
    }
  }
  return { path, status, doc: d, profiles, invalid, order, lastGood, usageStats, warnings };
}

/**
 * Parse store text (03 §2).
 * @throws JarvisError `store_invalid`: `<path> is not valid JSON: <reason> at line L, column C. jarvis will not use or
 *   overwrite it; …`
 */
export function parseStoreText(text: string, path: string): AuthStore {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const pos = findJsonError(text);
    const reason = pos ? `${pos.reason} at line ${pos.line}, column ${pos.column}` : (e as Error).message;
    throw new JarvisError(
      "store_invalid",
      `${path} is not valid JSON: ${reason}. jarvis will not use or overwrite it; restore it from a backup or fix it (see jarvis doctor).`,
    );
  }
  return interpretStore(doc, path);
}

const SECRET_FIELDS = ["key", "token", "access", "refresh", "idToken"] as const;

/**
 * Every plaintext credential held by the store's valid profiles, for the redactor (02 §6: every credential value
 * loaded in this process is masked wherever it would be printed).
 */
export function storeSecretValues(store: AuthStore): string[] {
  const out: string[] = [];
  for (const p of Object.values(store.profiles)) {
    for (const f of SECRET_FIELDS) {
      const v = p[f];
      if (hasText(v)) out.push(v.trim());
    }
  }
  return out;
}

/** An empty store for a missing file. */
export function emptyStore(path: string): AuthStore {
  return { path, status: "missing", doc: null, profiles: dict(), invalid: [], order: dict(), lastGood: dict(), usageStats: dict(), warnings: [] };
}

/**
 * Load the store from disk (read-only).
 * @throws JarvisError `store_invalid` / `store_unreadable` for invalid, unreadable or directory paths
 */
export function loadStore(path: string): AuthStore {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    const code = errnoCode(e);
    if (code === "ENOENT" || code === "ENOTDIR") return emptyStore(path);
    if (code === "EISDIR") throw new JarvisError("store_invalid", `${path} is a directory, not an auth store file`);
    throw new JarvisError("store_unreadable", `cannot read ${path} (${code ?? String(e)})`);
  }
  return parseStoreText(text, path);
}
