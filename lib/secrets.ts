/**
 * Secret providers (spec 06 §3–§4): validation of the `secrets` config block and resolution of SecretRefs through
 * the `env`, `file` and `exec` providers. The exec provider (protocol v1) lives in secrets-exec.ts and the path
 * checks shared by file and exec in secret-paths.ts; both are re-exported here, so this module stays the one entry.
 *
 * Every failure is a per-ref value, never a throw: one failing ref never hides the others and never crashes a
 * read-only command (06 §4 step 5). No message ever contains a resolved value, stderr of a resolver, a resolver's
 * free-text error message or a parser error (those can echo secret bytes).
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Type, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { isPlainObject } from "./_utils.ts";
import { pointerToDotPath } from "./config.ts";
import { normalizeSecret } from "./normalize.ts";
import { currentUid, insideTrustedDirs, isAbsoluteSecretPath, modeOctal } from "./secret-paths.ts";
import { resolveExecIds } from "./secrets-exec.ts";
import {
  DEFAULT_PROVIDER_ALIAS,
  ENV_ID_RE,
  FILE_ID_ERROR,
  PROVIDER_ALIAS_RE,
  SINGLE_VALUE_ID,
  isAbsoluteJsonPointer,
  refKey,
  unescapePointerSegment,
  validateSecretRef,
  type SecretRef,
  type SecretRefDefaults,
  type SecretSource,
} from "./secret-ref.ts";

// ---------------------------------------------------------------------------------------------------------------
// Configuration (06 §3)

/** Limits and defaults of the 06 §3 table. Times in ms, sizes in bytes. */
const SECRET_LIMITS = {
  timeoutMs: { default: 5000, min: 1, max: 120_000 },
  maxBytes: { default: 1_048_576, min: 1, max: 20_971_520 },
  maxOutputBytes: { default: 1_048_576, min: 1, max: 20_971_520 },
  allowlist: { max: 256 },
  args: { max: 128, maxLength: 1024 },
  passEnv: { max: 128 },
  trustedDirs: { max: 64 },
  maxProviderConcurrency: { default: 4, min: 1, max: 16 },
  maxRefsPerProvider: { default: 512, min: 1, max: 4096 },
  maxBatchBytes: { default: 262_144, min: 1, max: 5 * 1024 * 1024 },
} as const;

/** What `models status` shows for an exec ref that was not run (06 §4 "When refs are resolved"). */
const EXEC_NOT_RESOLVED = "configured, not resolved";

export type EnvProviderConfig = { source: "env"; allowlist?: string[] };
export type FileProviderConfig = {
  source: "file";
  /** As configured; `~` is expanded at resolution against the home of 01 §1. */
  path: string;
  mode: "json" | "singleValue";
  timeoutMs: number;
  maxBytes: number;
  trustedDirs?: string[];
  allowInsecurePath: boolean;
};
export type ExecProviderConfig = {
  source: "exec";
  command: string;
  args: string[];
  timeoutMs: number;
  noOutputTimeoutMs: number;
  maxOutputBytes: number;
  jsonOnly: boolean;
  env: Record<string, string>;
  passEnv: string[];
  trustedDirs?: string[];
  allowSymlinkCommand: boolean;
  allowInsecurePath: boolean;
};
export type SecretProviderConfig = EnvProviderConfig | FileProviderConfig | ExecProviderConfig;

/** The `secrets` block with defaults filled in. An invalid provider keeps its first problem so its refs can say why. */
export type SecretsSettings = {
  providers: Map<string, { ok: true; config: SecretProviderConfig } | { ok: false; problem: string }>;
  defaults: SecretRefDefaults;
  resolution: { maxProviderConcurrency: number; maxRefsPerProvider: number; maxBatchBytes: number };
};

const expected = (text: string) => ({ expected: text });
const int = (limit: { min: number; max: number }, unit = "") =>
  Type.Integer({ minimum: limit.min, maximum: limit.max, expected: `expected integer ${limit.min}-${limit.max}${unit}` });
const Bool = Type.Boolean(expected("expected boolean"));
const EnvName = Type.String({ pattern: ENV_ID_RE.source, expected: `expected env var name matching /${ENV_ID_RE.source}/` });
const Alias = Type.String({
  pattern: PROVIDER_ALIAS_RE.source,
  expected: `expected provider alias matching /${PROVIDER_ALIAS_RE.source}/`,
});

// Every documented key is accepted on every provider (type-checked, ignored where it does not apply): a documented
// escape hatch must never fail the schema (06 §3). Unknown keys are ignored, as everywhere in the config (01 §3).
const ProviderSchema = Type.Object(
  {
    source: Type.Union([Type.Literal("env"), Type.Literal("file"), Type.Literal("exec")], expected('expected "env", "file" or "exec"')),
    allowlist: Type.Optional(Type.Array(EnvName, { maxItems: SECRET_LIMITS.allowlist.max, ...expected("expected at most 256 env var names") })),
    path: Type.Optional(Type.String({ minLength: 1, ...expected("expected non-empty string") })),
    mode: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("singleValue")], expected('expected "json" or "singleValue"'))),
    timeoutMs: Type.Optional(int(SECRET_LIMITS.timeoutMs, " (ms)")),
    maxBytes: Type.Optional(int(SECRET_LIMITS.maxBytes, " (bytes)")),
    command: Type.Optional(Type.String({ minLength: 1, ...expected("expected non-empty string") })),
    args: Type.Optional(
      Type.Array(Type.String({ maxLength: SECRET_LIMITS.args.maxLength, ...expected("expected string of at most 1024 chars") }), {
        maxItems: SECRET_LIMITS.args.max,
        ...expected("expected at most 128 strings"),
      }),
    ),
    noOutputTimeoutMs: Type.Optional(int(SECRET_LIMITS.timeoutMs, " (ms)")),
    maxOutputBytes: Type.Optional(int(SECRET_LIMITS.maxOutputBytes, " (bytes)")),
    jsonOnly: Type.Optional(Bool),
    env: Type.Optional(Type.Record(Type.String(), Type.String(expected("expected string")), expected("expected object of strings"))),
    passEnv: Type.Optional(Type.Array(EnvName, { maxItems: SECRET_LIMITS.passEnv.max, ...expected("expected at most 128 env var names") })),
    trustedDirs: Type.Optional(
      Type.Array(Type.String({ minLength: 1, ...expected("expected non-empty string") }), {
        maxItems: SECRET_LIMITS.trustedDirs.max,
        ...expected("expected at most 64 directories"),
      }),
    ),
    allowSymlinkCommand: Type.Optional(Bool),
    allowInsecurePath: Type.Optional(Bool),
  },
  expected("expected object with source"),
);

const DefaultsSchema = Type.Object(
  { env: Type.Optional(Alias), file: Type.Optional(Alias), exec: Type.Optional(Alias) },
  expected("expected object"),
);
const ResolutionSchema = Type.Object(
  {
    maxProviderConcurrency: Type.Optional(int(SECRET_LIMITS.maxProviderConcurrency)),
    maxRefsPerProvider: Type.Optional(int(SECRET_LIMITS.maxRefsPerProvider)),
    maxBatchBytes: Type.Optional(int(SECRET_LIMITS.maxBatchBytes, " (bytes)")),
  },
  expected("expected object"),
);

/** `<dot.path>: <expected …>` lines for `value` against `schema`, one per failing path (outermost first). */
function schemaProblems(schema: TSchema, value: unknown, prefix: string): string[] {
  if (Value.Check(schema, value)) return [];
  const lines: string[] = [];
  const seen: string[] = [];
  for (const err of Value.Errors(schema, value)) {
    const rel = pointerToDotPath(err.path);
    const where = rel ? `${prefix}.${rel}` : prefix;
    // A union reports its branches too; the outermost error per path is the useful one.
    if (seen.some((p) => where === p || where.startsWith(p + "."))) continue;
    seen.push(where);
    lines.push(`${where}: ${(err.schema as TSchema & { expected?: string }).expected ?? err.message}`);
  }
  return lines;
}

/** Problems of one provider entry; source-specific required keys are checked after the shared schema. */
function providerProblems(alias: string, entry: unknown): string[] {
  const at = `secrets.providers.${alias}`;
  if (!PROVIDER_ALIAS_RE.test(alias)) return [`${at}: invalid provider alias (expected /${PROVIDER_ALIAS_RE.source}/)`];
  const problems = schemaProblems(ProviderSchema, entry, at);
  if (problems.length > 0 || !isPlainObject(entry)) return problems;
  if (entry.source === "file" && entry.path === undefined) return [`${at}.path: required for a file provider`];
  if (entry.source === "exec" && entry.command === undefined) return [`${at}.command: required for an exec provider`];
  return [];
}

/**
 * Validate the `secrets` block of the config (06 §3) — types, enums and the limits of the §3 table. Paths and
 * commands are checked for being absolute at resolution (06 §4.2/§4.3 messages), not here.
 * @param secrets the value of `config.secrets` (undefined = not configured)
 * @returns `secrets.<dot.path>: expected …` lines (same form as `validateConfig` of config.ts); empty when valid
 */
export function validateSecretsConfig(secrets: unknown): string[] {
  if (secrets === undefined) return [];
  if (!isPlainObject(secrets)) return ["secrets: expected object"];
  const problems: string[] = [];
  const providers = secrets.providers;
  if (providers !== undefined) {
    if (!isPlainObject(providers)) problems.push("secrets.providers: expected object");
    else for (const [alias, entry] of Object.entries(providers)) problems.push(...providerProblems(alias, entry));
  }
  if (secrets.defaults !== undefined) problems.push(...schemaProblems(DefaultsSchema, secrets.defaults, "secrets.defaults"));
  if (secrets.resolution !== undefined) problems.push(...schemaProblems(ResolutionSchema, secrets.resolution, "secrets.resolution"));
  return problems;
}

function toProviderConfig(entry: Record<string, unknown>): SecretProviderConfig {
  // Only called on entries that passed providerProblems, so the casts below restate checked types.
  const timeoutMs = (entry.timeoutMs as number | undefined) ?? SECRET_LIMITS.timeoutMs.default;
  const trustedDirs = entry.trustedDirs as string[] | undefined;
  const allowInsecurePath = entry.allowInsecurePath === true;
  switch (entry.source) {
    case "env":
      return { source: "env", allowlist: entry.allowlist as string[] | undefined };
    case "file":
      return {
        source: "file",
        path: entry.path as string,
        mode: (entry.mode as "json" | "singleValue" | undefined) ?? "json",
        timeoutMs,
        maxBytes: (entry.maxBytes as number | undefined) ?? SECRET_LIMITS.maxBytes.default,
        trustedDirs,
        allowInsecurePath,
      };
    default:
      return {
        source: "exec",
        command: entry.command as string,
        args: (entry.args as string[] | undefined) ?? [],
        timeoutMs,
        // Defaults to timeoutMs, never a smaller hard-coded value (06 §4.3).
        noOutputTimeoutMs: (entry.noOutputTimeoutMs as number | undefined) ?? timeoutMs,
        maxOutputBytes: (entry.maxOutputBytes as number | undefined) ?? SECRET_LIMITS.maxOutputBytes.default,
        jsonOnly: entry.jsonOnly !== false,
        env: (entry.env as Record<string, string> | undefined) ?? {},
        passEnv: (entry.passEnv as string[] | undefined) ?? [],
        trustedDirs,
        allowSymlinkCommand: entry.allowSymlinkCommand === true,
        allowInsecurePath,
      };
  }
}

/**
 * `secrets.defaults` of a parsed config (06 §2): the provider alias per source for legacy refs and `${NAME}` strings.
 * Aliases that break the alias rule are left out (the config loader reports them).
 * @param config the parsed `jarvis.json` object, or null when there is none
 */
export function readSecretDefaults(config: unknown): SecretRefDefaults {
  const d = isPlainObject(config) && isPlainObject(config.secrets) ? config.secrets.defaults : undefined;
  const defaults: SecretRefDefaults = {};
  if (isPlainObject(d)) {
    for (const source of ["env", "file", "exec"] as const) {
      const alias = d[source];
      if (typeof alias === "string" && PROVIDER_ALIAS_RE.test(alias)) defaults[source] = alias;
    }
  }
  return defaults;
}

/**
 * Read `config.secrets` into settings with defaults applied (06 §3). Invalid `defaults` / `resolution` values fall
 * back to the built-in defaults (the config loader reports them); an invalid provider is kept with its first problem.
 * @param config the parsed `jarvis.json` object, or null when there is none
 */
export function readSecretsSettings(config: unknown): SecretsSettings {
  const secrets = isPlainObject(config) && isPlainObject(config.secrets) ? config.secrets : {};
  const providers: SecretsSettings["providers"] = new Map();
  if (isPlainObject(secrets.providers)) {
    for (const [alias, entry] of Object.entries(secrets.providers)) {
      const problems = providerProblems(alias, entry);
      providers.set(
        alias,
        problems.length > 0 ? { ok: false, problem: problems[0]! } : { ok: true, config: toProviderConfig(entry as Record<string, unknown>) },
      );
    }
  }
  const defaults = readSecretDefaults(config);
  const resolutionRaw = isPlainObject(secrets.resolution) ? secrets.resolution : {};
  const pick = (key: "maxProviderConcurrency" | "maxRefsPerProvider" | "maxBatchBytes"): number => {
    const v = resolutionRaw[key];
    const limit = SECRET_LIMITS[key];
    return Number.isInteger(v) && (v as number) >= limit.min && (v as number) <= limit.max ? (v as number) : limit.default;
  };
  return {
    providers,
    defaults,
    resolution: {
      maxProviderConcurrency: pick("maxProviderConcurrency"),
      maxRefsPerProvider: pick("maxRefsPerProvider"),
      maxBatchBytes: pick("maxBatchBytes"),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Resolution (06 §4)

/** Outcome for one ref. `skipped`: an exec ref that was not run because exec was not allowed. */
export type SecretResolution = { ok: true; value: string } | { ok: false; error: string; skipped?: boolean };

export type ResolveContext = {
  /** The effective env of 02 §1 (blank values count as unset). */
  env: Record<string, string | undefined>;
  /** Home of 01 §1, for `~` in file provider paths. */
  home: string;
  /** The parsed `jarvis.json` object (after `${VAR}` substitution), or null. */
  config: unknown;
  /** Run exec providers. When false, exec refs come back `{ok: false, skipped: true, error: EXEC_NOT_RESOLVED}`. */
  allowExec: boolean;
};

type Group = { source: SecretSource; alias: string; refs: SecretRef[] };
type Results = Map<string, SecretResolution>;

/**
 * The wording callers use when a ref fails (audit, doctor, status): `Failed to resolve <source>:<provider>:<id> (<error>).`
 */
export function describeSecretFailure(ref: SecretRef, error: string): string {
  return `Failed to resolve ${refKey(ref)} (${error}).`;
}

/**
 * Resolve SecretRefs (06 §4): de-duplicate by `source:provider:id`, group per `source:provider`, run groups
 * concurrently up to `secrets.resolution.maxProviderConcurrency`, and pass each value through the secret normaliser
 * in value mode (02 §5).
 * @param refs refs to resolve (invalid ones fail with their 06 §2 error)
 * @returns map keyed by `refKey(ref)`, in first-appearance order, with a value or a per-ref error message; never rejects
 */
export async function resolveSecretRefs(refs: SecretRef[], ctx: ResolveContext): Promise<Results> {
  const settings = readSecretsSettings(ctx.config);
  const results: Results = new Map();
  const groups = new Map<string, Group>();
  const seen = new Set<string>();
  for (const ref of refs) {
    const key = refKey(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    const invalid = validateSecretRef(ref);
    if (invalid !== undefined) {
      results.set(key, { ok: false, error: invalid });
      continue;
    }
    const groupKey = `${ref.source}:${ref.provider}`;
    const group = groups.get(groupKey) ?? { source: ref.source, alias: ref.provider, refs: [] };
    group.refs.push(ref);
    groups.set(groupKey, group);
  }
  const tasks = [...groups.values()].map((group) => () => resolveGroup(group, settings, ctx, results));
  await runPool(tasks, settings.resolution.maxProviderConcurrency);
  // Groups finish in any order; callers get the refs' first-appearance order so output is deterministic.
  return new Map([...seen].map((key) => [key, results.get(key)!]));
}

/** Resolve a single ref; same rules as `resolveSecretRefs`. */
export async function resolveSecretRef(ref: SecretRef, ctx: ResolveContext): Promise<SecretResolution> {
  const results = await resolveSecretRefs([ref], ctx);
  return results.get(refKey(ref))!;
}

async function runPool(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

function failAll(group: Group, results: Results, error: string | ((ref: SecretRef) => string)): void {
  for (const ref of group.refs) results.set(refKey(ref), { ok: false, error: typeof error === "string" ? error : error(ref) });
}

/** Step 2 of 06 §4: the configured provider, the implicit env provider, or why there is none. */
function lookupProvider(group: Group, settings: SecretsSettings): { config: SecretProviderConfig } | { error: (ref: SecretRef) => string } {
  const { alias, source } = group;
  const entry = settings.providers.get(alias);
  if (entry === undefined) {
    if (source === "env" && (alias === DEFAULT_PROVIDER_ALIAS || alias === settings.defaults.env)) return { config: { source: "env" } };
    return { error: (ref) => `Secret provider "${alias}" is not configured (ref: ${refKey(ref)}).` };
  }
  if (!entry.ok) return { error: () => `Secret provider "${alias}" has an invalid configuration (${entry.problem}).` };
  if (entry.config.source !== source) {
    return { error: () => `Secret provider "${alias}" has source "${entry.config.source}" but ref requests "${source}".` };
  }
  return { config: entry.config };
}

async function resolveGroup(group: Group, settings: SecretsSettings, ctx: ResolveContext, results: Results): Promise<void> {
  const found = lookupProvider(group, settings);
  if ("error" in found) return failAll(group, results, found.error);
  const limit = settings.resolution.maxRefsPerProvider;
  if (group.refs.length > limit) return failAll(group, results, `Secret provider "${group.alias}" exceeded maxRefsPerProvider (${limit}).`);
  const provider = found.config;
  try {
    if (provider.source === "env") resolveEnvGroup(group, provider, ctx.env, results);
    else if (provider.source === "file") await resolveFileGroup(group, provider, ctx.home, results);
    else if (!ctx.allowExec) {
      for (const ref of group.refs) results.set(refKey(ref), { ok: false, skipped: true, error: EXEC_NOT_RESOLVED });
    } else await resolveExecGroup(group, provider, ctx, settings.resolution.maxBatchBytes, results);
  } catch (e) {
    // Resolvers return errors as values; this only catches an unexpected fault. Its text is not shown because a
    // runtime error could quote file or process content.
    const code = typeof e === "object" && e !== null && "code" in e ? ` (${String((e as { code: unknown }).code)})` : "";
    failAll(group, results, `Secret provider "${group.alias}" failed unexpectedly${code}.`);
  }
}

/** Step 4 of 06 §4: the value must be a string that passes the normaliser in value mode. */
function finishValue(ref: SecretRef, raw: unknown): SecretResolution {
  const bad = { ok: false as const, error: `Secret reference "${refKey(ref)}" resolved to a non-string or empty value.` };
  if (typeof raw !== "string") return bad;
  // The normaliser's own message is dropped: it names a character of the value, which is part of the secret.
  const normalized = normalizeSecret(raw, { mode: "value", what: refKey(ref) });
  return normalized.ok ? { ok: true, value: normalized.value } : bad;
}

// --- env provider (06 §4.1) ------------------------------------------------------------------------------------

function resolveEnvGroup(group: Group, provider: EnvProviderConfig, env: ResolveContext["env"], results: Results): void {
  for (const ref of group.refs) {
    const key = refKey(ref);
    if (provider.allowlist !== undefined && !provider.allowlist.includes(ref.id)) {
      results.set(key, {
        ok: false,
        error: `Environment variable "${ref.id}" is not allowlisted in secrets.providers.${group.alias}.allowlist.`,
      });
      continue;
    }
    const value = env[ref.id];
    if (value === undefined || value.trim() === "") {
      results.set(key, { ok: false, error: `Environment variable "${ref.id}" is missing or empty.` });
      continue;
    }
    results.set(key, finishValue(ref, value));
  }
}

// --- file provider (06 §4.2) -------------------------------------------------------------------------------------

/**
 * Expand a leading `~` (alone, `~/…` or `~\…`) against `home`; other paths are returned unchanged. Not
 * `paths.expandHome`: that one also makes relative paths absolute, which would hide the "must be absolute" error.
 */
function expandTilde(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/") || p.startsWith("~\\")) return path.join(home, p.slice(2));
  return p;
}

function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** A value or the error message saying why there is none. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Run the 06 §4.2 security checks on a file provider's path and read it (at most `maxBytes` bytes, within
 * `timeoutMs` ms). Owner/permission/ACL checks are skipped with `allowInsecurePath`; the symlink and trustedDirs
 * checks never are.
 * @returns the file content (UTF-8), or the exact 06 §4.2 error naming `secrets.providers.<p>.path <path>`
 */
async function readSecretsFile(alias: string, provider: FileProviderConfig, home: string): Promise<Outcome<string>> {
  const expanded = expandTilde(provider.path, home);
  if (!isAbsoluteSecretPath(expanded)) return { ok: false, error: `secrets.providers.${alias}.path must be an absolute path.` };
  const subject = `secrets.providers.${alias}.path ${expanded}`;
  const fail = (what: string): Outcome<string> => ({ ok: false, error: `${subject} ${what}` });
  let st: fs.Stats;
  try {
    st = await fsp.lstat(expanded);
  } catch {
    return fail("is not readable.");
  }
  if (st.isSymbolicLink()) return fail("must not be a symlink.");
  if (!st.isFile()) return fail("must be a file.");
  if (provider.trustedDirs !== undefined) {
    if (provider.trustedDirs.some((d) => !isAbsoluteSecretPath(d))) {
      return { ok: false, error: `secrets.providers.${alias}.trustedDirs entries must be absolute paths.` };
    }
    const real = await fsp.realpath(expanded).catch(() => expanded);
    if (!(await insideTrustedDirs(real, provider.trustedDirs))) return fail("is outside trustedDirs.");
  }
  if (!provider.allowInsecurePath) {
    if (process.platform === "win32") return fail("ACL cannot be verified; set allowInsecurePath: true only for a trusted path.");
    const uid = currentUid();
    if (uid !== undefined && st.uid !== uid) return fail(`must be owned by the current user (uid=${uid}).`);
    if ((st.mode & 0o077) !== 0) return fail(`permissions are too open (${modeOctal(st.mode)}); run chmod 600 ${expanded}.`);
  }
  const tooBig: Outcome<string> = { ok: false, error: `File provider "${alias}" exceeded maxBytes (${provider.maxBytes}).` };
  if (st.size > provider.maxBytes) return tooBig;
  const read = async (): Promise<Outcome<string>> => {
    let handle: fsp.FileHandle;
    try {
      // O_NOFOLLOW: the path was checked not to be a symlink; refuse one swapped in since.
      handle = await fsp.open(expanded, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    } catch {
      return fail("is not readable.");
    }
    try {
      // One byte over the cap tells a file that grew after the stat apart from one that fits.
      const buf = Buffer.alloc(provider.maxBytes + 1);
      let total = 0;
      while (total < buf.length) {
        const { bytesRead } = await handle.read(buf, total, buf.length - total, total);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
      return total > provider.maxBytes ? tooBig : { ok: true, value: buf.subarray(0, total).toString("utf8") };
    } catch {
      return fail("is not readable.");
    } finally {
      await handle.close().catch(() => undefined);
    }
  };
  return withTimeout(read(), provider.timeoutMs, () => ({
    ok: false,
    error: `File provider "${alias}" timed out after ${provider.timeoutMs}ms.`,
  }));
}

/**
 * Evaluate an RFC 6901 pointer (`~1` → `/`, `~0` → `~`; numeric segments index arrays) against `doc`.
 * @returns the value, or `JSON pointer segment "<t>" does not exist.` / `… is out of bounds.` (06 §4.2), `<t>` being
 *   the segment as written in the pointer
 */
export function evaluateJsonPointer(doc: unknown, pointer: string): Outcome<unknown> {
  let current = doc;
  for (const token of pointer.split("/").slice(1)) {
    const key = unescapePointerSegment(token);
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key)) return { ok: false, error: `JSON pointer segment "${token}" does not exist.` };
      const index = Number(key);
      if (index >= current.length) return { ok: false, error: `JSON pointer segment "${token}" is out of bounds.` };
      current = current[index];
    } else if (isPlainObject(current) && Object.hasOwn(current, key)) {
      current = current[key];
    } else {
      return { ok: false, error: `JSON pointer segment "${token}" does not exist.` };
    }
  }
  return { ok: true, value: current };
}

async function resolveFileGroup(group: Group, provider: FileProviderConfig, home: string, results: Results): Promise<void> {
  const content = await readSecretsFile(group.alias, provider, home);
  if (!content.ok) return failAll(group, results, content.error);
  if (provider.mode === "singleValue") {
    const value = content.value.replace(/\r?\n$/, "");
    for (const ref of group.refs) {
      results.set(
        refKey(ref),
        ref.id === SINGLE_VALUE_ID
          ? finishValue(ref, value)
          : { ok: false, error: `singleValue file provider "${group.alias}" expects ref id "value".` },
      );
    }
    return;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(content.value);
  } catch {
    doc = undefined; // the parser's message can quote file content, so only the fact is reported
  }
  if (!isPlainObject(doc)) return failAll(group, results, `File provider "${group.alias}" payload is not a JSON object.`);
  for (const ref of group.refs) {
    if (!isAbsoluteJsonPointer(ref.id)) {
      results.set(refKey(ref), { ok: false, error: FILE_ID_ERROR });
      continue;
    }
    const found = evaluateJsonPointer(doc, ref.id);
    results.set(refKey(ref), found.ok ? finishValue(ref, found.value) : { ok: false, error: found.error });
  }
}

// --- exec provider (06 §4.3, in secrets-exec.ts) ------------------------------------------------------------------

async function resolveExecGroup(group: Group, provider: ExecProviderConfig, ctx: ResolveContext, maxBatchBytes: number, results: Results): Promise<void> {
  const raw = await resolveExecIds(group.alias, provider, ctx.env, group.refs.map((ref) => ref.id), maxBatchBytes);
  for (const ref of group.refs) {
    const one = raw.get(ref.id)!;
    results.set(refKey(ref), one.ok ? finishValue(ref, one.value) : { ok: false, error: one.error });
  }
}

export { checkExecCommand, execChildEnv, parseExecResponse, planExecBatches } from "./secrets-exec.ts";
export { isAbsoluteSecretPath, isTrustedCommandOwner } from "./secret-paths.ts";
