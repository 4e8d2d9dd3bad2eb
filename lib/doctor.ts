/**
 * `jarvis doctor` checks (spec 09 §1.1, D21): pure functions over data loaded once at the edge (doctor-cmd.ts).
 * Each check returns findings; a finding that `--fix` can repair carries a `repair` descriptor that doctor-cmd.ts
 * applies through doctor-repair.ts. Store findings come from the same plan the store repair writes.
 */
import path from "node:path";
import type { AgentSelection } from "./agents.ts";
import type { JarvisConfig } from "./config.ts";
import { isoTime } from "./duration.ts";
import { expiryState, profileRef } from "./eligibility.ts";
import type { EffectiveEnv, EnvEntry } from "./env.ts";
import { isLoopback } from "./_utils.ts";
import { bindHost } from "./gateway.ts";
import { isLockStale } from "./lock.ts";
import { modeOctal } from "./secret-paths.ts";
import { normalizeAuthProviderId } from "./providers.ts";
import type { SecretRefDefaults } from "./secret-ref.ts";
import type { RefResolution } from "./status.ts";
import type { AuthStore } from "./store.ts";
import { checkAuth, checkEnv } from "./doctor-auth.ts";
import { planStoreRepair, rawProfiles } from "./doctor-repair.ts";

type Doc = Record<string, any>;

export type Severity = "error" | "warn" | "info";

/** What `--fix` does for a finding. */
export type Repair =
  | { kind: "chmod"; path: string }
  | { kind: "unlink"; path: string; bytes?: string }
  | { kind: "store" }
  | { kind: "legacy"; file: string; legacy: "auth_json" | "oauth_json" }
  | { kind: "config"; orderRemove?: Record<string, string[]>; mode?: { id: string; mode: string } }
  | { kind: "refresh"; profileId: string };

/** One finding (09 §1.3 JSON shape; `repair` is internal and never printed). */
export interface Finding {
  code: string;
  severity: Severity;
  message: string;
  path?: string;
  provider?: string;
  profileId?: string;
  fix?: string;
  autoFix: boolean;
  fixed?: true;
  backup?: string;
  repair?: Repair;
}

/** Existence, mode and owner of a path (undefined fields when it does not exist or cannot be stat'ed). */
export interface FileInfo {
  path: string;
  exists: boolean;
  isDir?: boolean;
  mode?: number;
  uid?: number;
  error?: string;
}

/** A lock or temp file found in a jarvis directory. */
export interface FoundFile {
  path: string;
  mtimeMs: number;
  /** Base64 of the bytes as read (locks are removed only if unchanged). */
  bytes?: string;
  pid?: number;
  createdAt?: number;
}

/** Everything the checks look at, read once (read-only) by doctor-cmd.ts. */
export interface DoctorData {
  now: number;
  uid: number | undefined;
  show: (p: string) => string;
  home: string;
  stateDir: string;
  stateEnvDisplay: string;
  files: Record<"state" | "agentDir" | "store" | "config" | "dotenv", FileInfo>;
  config: {
    path: string;
    exists: boolean;
    /** The raw document (empty when missing or unparsable). */
    raw: Doc;
    parseError?: string;
    unreadable?: string;
    invalid: string[];
    missingVars: string[];
  };
  /** Substituted config with invalid parts removed (what the other checks use). */
  cfg: JarvisConfig;
  secretDefaults: SecretRefDefaults;
  env: EffectiveEnv;
  /** What a daemon sees: `$STATE/.env` and the config `env` block only (no process env, no `./.env`). */
  daemonVars: Map<string, EnvEntry>;
  agent: AgentSelection;
  /** Agent dir of every known agent (for `agents.shared_dir`). */
  agentDirs: Array<{ agentId: string; agentDir: string }>;
  store: AuthStore;
  storeError?: { code: string; message: string };
  refs: ReadonlyMap<string, RefResolution>;
  locks: FoundFile[];
  tmps: FoundFile[];
  staleMs: number;
  legacy: Array<{ kind: "auth_json" | "oauth_json"; path: string; doc?: unknown; error?: string }>;
}

/** `0755` style, as `chmod` takes it. */
const octal = (mode: number) => "0" + modeOctal(mode);

// --- filesystem ----------------------------------------------------------------------------------------------------

/** `state.missing`, `fs.state_dir.perms`, `fs.agent_dir.perms`, `fs.shared_storage`. */
function checkDirs(d: DoctorData): Finding[] {
  const out: Finding[] = [];
  const { state, agentDir } = d.files;
  if (!state.exists) {
    out.push({ code: "state.missing", severity: "info", message: `${d.show(state.path)} does not exist yet`, path: state.path, fix: "created on first write", autoFix: false });
  }
  if (/^\/(sdcard|storage)(\/|$)/.test(state.path) || /^\/mnt\/sdcard(\/|$)/.test(state.path)) {
    out.push({
      code: "fs.shared_storage",
      severity: "error",
      message: `${state.path} is on Android shared storage, which has no Unix permissions`,
      path: state.path,
      fix: "move it under $HOME (e.g. unset JARVIS_STATE_DIR) and copy the files over",
      autoFix: false,
    });
  }
  for (const [code, f] of [["fs.state_dir.perms", state], ["fs.agent_dir.perms", agentDir]] as const) {
    if (!f.exists || !f.isDir || f.mode === undefined || (f.mode & 0o077) === 0) continue;
    out.push({
      code,
      severity: "warn",
      message: `${d.show(f.path)} is accessible by group/others (${octal(f.mode)})`,
      path: f.path,
      fix: `chmod 700 ${d.show(f.path)}`,
      autoFix: true,
      repair: { kind: "chmod", path: f.path },
    });
  }
  return out;
}

/** `fs.store.perms`, `fs.config.perms`, `fs.dotenv.perms`, `fs.owner`, unreadable files (`fs.unreadable`). */
function checkFiles(d: DoctorData): Finding[] {
  const out: Finding[] = [];
  const perm = (code: string, f: FileInfo, severity: Severity, what: string) =>
    out.push({
      code,
      severity,
      message: `${d.show(f.path)} is ${what} by group/others (${octal(f.mode!)})`,
      path: f.path,
      fix: `chmod 600 ${d.show(f.path)}`,
      autoFix: true,
      repair: { kind: "chmod", path: f.path },
    });
  const { store, config, dotenv } = d.files;
  if (store.exists && !store.isDir && store.mode !== undefined && (store.mode & 0o077) !== 0) {
    perm("fs.store.perms", store, (store.mode & 0o022) !== 0 ? "error" : "warn", (store.mode & 0o022) !== 0 ? "writable" : "readable");
  }
  if (config.exists && !config.isDir && config.mode !== undefined && (config.mode & 0o077) !== 0) {
    if ((config.mode & 0o002) !== 0) perm("fs.config.perms", config, "error", "writable");
    else perm("fs.config.perms", config, "warn", "readable");
  }
  if (dotenv.exists && !dotenv.isDir && dotenv.mode !== undefined && (dotenv.mode & 0o077) !== 0) perm("fs.dotenv.perms", dotenv, "warn", "readable");
  for (const f of [store, config, dotenv]) {
    if (f.exists && d.uid !== undefined && f.uid !== undefined && f.uid !== d.uid) {
      out.push({
        code: "fs.owner",
        severity: "warn",
        message: `${d.show(f.path)} is owned by uid ${f.uid}, not the current user (uid ${d.uid})`,
        path: f.path,
        fix: `chown $(id -un) ${d.show(f.path)}`,
        autoFix: false,
      });
    }
  }
  // Files report their own read errors (store, config, .env); a directory that cannot be searched is reported here.
  for (const f of [d.files.state, d.files.agentDir]) {
    if (f.error) out.push({ code: "fs.unreadable", severity: "error", message: `${d.show(f.path)} cannot be read (${f.error})`, path: f.path, fix: `check the permissions of ${d.show(f.path)} and its parents`, autoFix: false });
  }
  for (const w of d.env.warnings) {
    if (w.code === "env.unreadable") out.push({ code: "fs.unreadable", severity: "error", message: w.message, fix: "check the file's permissions", autoFix: false });
  }
  return out;
}

/** `agents.shared_dir`: two known agents resolve to the same agent dir. */
function checkAgents(d: DoctorData): Finding[] {
  const byDir = new Map<string, string[]>();
  for (const a of d.agentDirs) byDir.set(path.resolve(a.agentDir), [...(byDir.get(path.resolve(a.agentDir)) ?? []), a.agentId]);
  const out: Finding[] = [];
  for (const [dir, ids] of byDir) {
    if (ids.length < 2) continue;
    out.push({
      code: "agents.shared_dir",
      severity: "error",
      message: `agents ${ids.join(", ")} share the agent dir ${d.show(dir)}`,
      path: dir,
      fix: "give each agent its own agentDir in agents.list[]",
      autoFix: false,
    });
  }
  return out;
}

/** `lock.stale` (03 §4 stale rule) and `tmp.leftover` (older than 60 000 ms). */
function checkLeftovers(d: DoctorData): Finding[] {
  const out: Finding[] = [];
  for (const l of d.locks) {
    const info = { pid: l.pid, createdAt: l.createdAt, mtimeMs: l.mtimeMs };
    if (!isLockStale(info, d.now, d.staleMs)) continue;
    const holder = l.pid !== undefined && l.createdAt !== undefined ? `pid ${l.pid}, since ${isoTime(l.createdAt)}` : "unreadable content";
    out.push({
      code: "lock.stale",
      severity: "warn",
      message: `${d.show(l.path)} is a stale lock (${holder})`,
      path: l.path,
      fix: `rm ${d.show(l.path)}`,
      autoFix: true,
      repair: { kind: "unlink", path: l.path, bytes: l.bytes },
    });
  }
  for (const t of d.tmps) {
    if (d.now - t.mtimeMs <= 60_000) continue;
    out.push({
      code: "tmp.leftover",
      severity: "info",
      message: `${d.show(t.path)} is a temp file left by a crashed writer`,
      path: t.path,
      fix: `rm ${d.show(t.path)}`,
      autoFix: true,
      repair: { kind: "unlink", path: t.path, bytes: t.bytes },
    });
  }
  return out;
}

// --- config --------------------------------------------------------------------------------------------------------

/** `config.parse_error`, `config.invalid`, `config.missing_var`, `gateway.no_token`. */
function checkConfig(d: DoctorData): Finding[] {
  const c = d.config;
  const out: Finding[] = [];
  if (c.unreadable) out.push({ code: "fs.unreadable", severity: "error", message: c.unreadable, path: c.path, fix: `check the permissions of ${d.show(c.path)}`, autoFix: false });
  if (c.parseError) out.push({ code: "config.parse_error", severity: "error", message: c.parseError, path: c.path, fix: `fix ${d.show(c.path)} by hand (or restore a backup)`, autoFix: false });
  for (const line of c.invalid) {
    const key = line.slice(0, line.indexOf(":"));
    out.push({ code: "config.invalid", severity: "error", message: `Invalid config ${c.path}: ${line}`, path: c.path, fix: `fix ${key} in ${d.show(c.path)}`, autoFix: false });
  }
  for (const m of c.missingVars) {
    const name = /\$\{([A-Z_][A-Z0-9_]*)\}/.exec(m)?.[1] ?? "the variable";
    out.push({ code: "config.missing_var", severity: "error", message: m, path: c.path, fix: `set ${name} (e.g. in ${d.stateEnvDisplay})`, autoFix: false });
  }
  const bind = typeof d.cfg.gateway?.bind === "string" ? d.cfg.gateway.bind.trim() : undefined;
  if (bind !== undefined) {
    // A value the gateway would refuse is still judged by what it names (brackets dropped).
    const host = bindHost(bind) ?? bind.replace(/^\[|\]$/g, "");
    const token = d.cfg.gateway?.auth?.token;
    const hasToken = d.env.vars.has("JARVIS_GATEWAY_TOKEN") || (token !== undefined && token !== null && token !== "");
    if (!isLoopback(host) && !hasToken) {
      out.push({
        code: "gateway.no_token",
        severity: "error",
        message: `gateway.bind is "${bind}" (not loopback) and no gateway token is configured`,
        path: c.path,
        fix: "set gateway.auth.token (a SecretRef or ${JARVIS_GATEWAY_TOKEN}), or bind to loopback",
        autoFix: false,
      });
    }
  }
  return out;
}

/** Store profile ids, with their normalised provider when known (invalid entries count as present). */
function storeIds(d: DoctorData): Map<string, string | undefined> {
  const ids = new Map<string, string | undefined>();
  for (const [id, p] of Object.entries(d.store.profiles)) ids.set(id, normalizeAuthProviderId(p.provider));
  for (const i of d.store.invalid) ids.set(i.profileId, i.provider ? normalizeAuthProviderId(i.provider) : undefined);
  return ids;
}

/** `config.order_dangling`, `config.profile_dangling`, `config.mode_mismatch`, `store.oauth_ref` (config mode oauth). */
function checkConfigProfiles(d: DoctorData): Finding[] {
  if (d.storeError || d.config.parseError) return [];
  const out: Finding[] = [];
  const ids = storeIds(d);
  const auth = d.config.raw.auth;
  const order = auth && typeof auth === "object" ? auth.order : undefined;
  if (order && typeof order === "object") {
    for (const [p, list] of Object.entries(order as Doc)) {
      if (!Array.isArray(list)) continue;
      const want = normalizeAuthProviderId(p);
      const missing = list.filter((id) => typeof id === "string" && !ids.has(id.trim()));
      const other = list.filter((id) => typeof id === "string" && ids.has(id.trim()) && ids.get(id.trim()) !== undefined && ids.get(id.trim()) !== want);
      if (missing.length + other.length === 0) continue;
      const parts = [missing.length ? `${missing.join(", ")} (not in the store)` : "", other.length ? `${other.join(", ")} (another provider)` : ""].filter(Boolean);
      out.push({
        code: "config.order_dangling",
        severity: "warn",
        message: `auth.order.${p} lists ${parts.join(" and ")}`,
        path: d.config.path,
        provider: want,
        fix: `remove them from auth.order.${p} in ${d.show(d.config.path)}`,
        autoFix: true,
        repair: { kind: "config", orderRemove: { [p]: [...missing, ...other] } },
      });
    }
  }
  const profiles = auth && typeof auth === "object" ? auth.profiles : undefined;
  if (profiles && typeof profiles === "object") {
    for (const [id, meta] of Object.entries(profiles as Doc)) {
      const stored = d.store.profiles[id];
      if (!ids.has(id)) {
        out.push({ code: "config.profile_dangling", severity: "info", message: `auth.profiles.${id} has no stored profile`, path: d.config.path, profileId: id, fix: `jarvis models auth remove ${id}`, autoFix: false });
        continue;
      }
      if (!stored || !meta || typeof meta !== "object") continue;
      const mode = (meta as Doc).mode;
      const ref = profileRef(stored, d.secretDefaults);
      if (mode === "oauth" && ref !== undefined) {
        out.push({
          code: "store.oauth_ref",
          severity: "error",
          message: `${id} uses a SecretRef but auth.profiles.${id}.mode is oauth; OAuth credentials must be stored inline`,
          profileId: id,
          provider: normalizeAuthProviderId(stored.provider),
          fix: `store it inline (jarvis models auth login --provider ${normalizeAuthProviderId(stored.provider)} --profile-id ${id}) or set the mode to ${stored.type}`,
          autoFix: false,
        });
        continue;
      }
      const pair = (mode === "oauth" && stored.type === "token") || (mode === "token" && stored.type === "oauth");
      if (typeof mode === "string" && mode !== stored.type && !pair) {
        out.push({
          code: "config.mode_mismatch",
          severity: "warn",
          message: `auth.profiles.${id}.mode is "${mode}" but the stored profile is type ${stored.type}`,
          path: d.config.path,
          profileId: id,
          fix: `set auth.profiles.${id}.mode to "${stored.type}"`,
          autoFix: true,
          repair: { kind: "config", mode: { id, mode: stored.type } },
        });
      }
    }
  }
  return out;
}

// --- store ---------------------------------------------------------------------------------------------------------

/** Store load errors, and every store finding of the repair plan (legacy flat, aliases, expiries, refs, order). */
function checkStore(d: DoctorData): Finding[] {
  const out: Finding[] = [];
  const storePath = d.store.path;
  if (d.storeError) {
    const manual =
      d.storeError.code === "store.version"
        ? "use a jarvis that understands this version, or restore a backup"
        : d.storeError.code === "fs.unreadable"
          ? `check the permissions of ${d.show(storePath)} and its directories`
          : `restore a backup of ${d.show(storePath)} or fix it by hand; doctor never rewrites it`;
    return [{ code: d.storeError.code, severity: "error", message: d.storeError.message, path: storePath, fix: manual, autoFix: false }];
  }
  if (!d.store.doc) return [];
  const legacyFlat = d.store.status === "legacy_flat";
  const plan = planStoreRepair(d.store.doc, legacyFlat);
  const repair: Repair = { kind: "store" };
  const base = { path: storePath, autoFix: true, repair };
  if (legacyFlat) {
    out.push({ ...base, code: "store.legacy_flat", severity: "warn", message: `${d.show(storePath)} uses the legacy flat layout`, fix: "migrate it to version 1 (a backup is kept)" });
  }
  const { entries } = rawProfiles(d.store.doc, legacyFlat);
  for (const [id, c] of Object.entries(plan.entries)) {
    const entry = entries[id] as Doc;
    const provider = typeof entry.provider === "string" ? normalizeAuthProviderId(entry.provider) : undefined;
    const who = { profileId: id, ...(provider ? { provider } : {}) };
    if (c.aliases.length && !legacyFlat) {
      out.push({ ...base, ...who, code: "store.alias_fields", severity: "warn", message: `${id} uses legacy field names (${c.aliases.join(", ")})`, fix: "rename them to the canonical fields" });
    }
    if (c.expiresFrom !== undefined) {
      out.push({ ...base, ...who, code: "store.expires_seconds", severity: "error", message: `${id} has expires ${c.expiresFrom}, which looks like seconds; expected epoch milliseconds`, fix: "multiply it by 1000" });
    }
    if (c.dropped) {
      out.push({ ...base, ...who, code: "store.plaintext_and_ref", severity: "warn", message: `${id} has both ${c.dropped} and ${c.dropped}Ref; the ref wins, so the plaintext copy is unused`, fix: `drop the plaintext ${c.dropped}` });
    }
  }
  for (const [p, ids] of Object.entries(plan.orderRemoved)) {
    out.push({ ...base, provider: normalizeAuthProviderId(p), code: "store.order_dangling", severity: "warn", message: `order.${p} lists ${ids.join(", ")} (not in the store or of another provider)`, fix: `remove them from order.${p}` });
  }
  for (const inv of d.store.invalid) {
    if (inv.reason === "oauth_with_ref") {
      out.push({ code: "store.oauth_ref", severity: "error", message: `${inv.profileId} is an oauth profile with a SecretRef; OAuth credentials must be stored inline`, path: storePath, profileId: inv.profileId, fix: `log in again (jarvis models auth login --provider ${inv.provider ?? "<provider>"} --profile-id ${inv.profileId}) or remove the ref`, autoFix: false });
    } else {
      out.push({ code: "store.invalid_entry", severity: "error", message: `${inv.profileId} is invalid (${inv.reason}: ${inv.detail})`, path: storePath, profileId: inv.profileId, fix: `fix it in ${d.show(storePath)} or jarvis models auth remove ${inv.profileId}`, autoFix: false });
    }
  }
  for (const [id, p] of Object.entries(d.store.profiles)) {
    const provider = normalizeAuthProviderId(p.provider);
    if (id.includes(":") && normalizeAuthProviderId(id.slice(0, id.indexOf(":"))) !== provider) {
      out.push({ code: "store.id_provider_mismatch", severity: "info", message: `${id} has provider "${p.provider}", which differs from its id prefix`, path: storePath, profileId: id, provider, fix: `store it again as ${provider}:<name> and jarvis models auth remove ${id}`, autoFix: false });
    }
    if (p.type === "api_key" || plan.entries[id]?.expiresFrom !== undefined) continue;
    const e = p.expires;
    const invalid = e === undefined ? p.type === "oauth" : expiryState(e, d.now).state === "invalid_expires";
    if (!invalid) continue;
    const fix = p.type === "oauth" ? `jarvis models auth login --provider ${provider} --profile-id ${id}` : `jarvis models auth paste-token --provider ${provider} --profile-id ${id} --expires-in <dur>`;
    out.push({ code: "store.expires_invalid", severity: "error", message: `${id} has ${e === undefined ? "no expires" : `an invalid expires (${JSON.stringify(e)})`}; expected epoch milliseconds`, path: storePath, profileId: id, provider, fix, autoFix: false });
  }
  return out;
}

/** `legacy.auth_json`, `legacy.oauth_json`. */
function checkLegacy(d: DoctorData): Finding[] {
  return d.legacy.map((l) => {
    const code = l.kind === "auth_json" ? "legacy.auth_json" : "legacy.oauth_json";
    if (l.error) return { code, severity: "warn" as const, message: `${d.show(l.path)} exists but cannot be imported (${l.error})`, path: l.path, fix: `fix or remove ${d.show(l.path)}`, autoFix: false };
    const blocked = d.storeError !== undefined;
    return {
      code,
      severity: "warn" as const,
      message: `${d.show(l.path)} is a legacy credential file that jarvis does not use`,
      path: l.path,
      fix: blocked ? "fix the auth store first, then run jarvis doctor --fix" : `import its entries as <provider>:default, then rename it to ${path.basename(l.path)}.migrated-<timestamp>`,
      autoFix: !blocked,
      ...(blocked ? {} : { repair: { kind: "legacy" as const, file: l.path, legacy: l.kind } }),
    };
  });
}

// --- running -------------------------------------------------------------------------------------------------------

/** The checks, in report order; each runs in isolation. */
const CHECKS: ReadonlyArray<{ name: string; run: (d: DoctorData) => Finding[] }> = [
  { name: "dirs", run: checkDirs },
  { name: "files", run: checkFiles },
  { name: "agents", run: checkAgents },
  { name: "leftovers", run: checkLeftovers },
  { name: "config", run: checkConfig },
  { name: "config-profiles", run: checkConfigProfiles },
  { name: "store", run: checkStore },
  { name: "legacy", run: checkLegacy },
  { name: "auth", run: checkAuth },
  { name: "env", run: checkEnv },
];

/** Run every check; an exception becomes `doctor.check_failed` naming the check (09 §1 "Never crashes"). */
export function runChecks(d: DoctorData): Finding[] {
  const out: Finding[] = [];
  for (const c of CHECKS) {
    try {
      out.push(...c.run(d));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      out.push({ code: "doctor.check_failed", severity: "error", message: `check "${c.name}" failed: ${why}`, autoFix: false });
    }
  }
  return out;
}

/** Identity of a finding across the two passes of `--fix`. */
export function findingKey(f: Finding): string {
  return [f.code, f.path ?? "", f.profileId ?? "", f.provider ?? "", f.code === "doctor.check_failed" || f.code.startsWith("config.") ? f.message : ""].join("\0");
}

const RANK: Record<Severity, number> = { error: 0, warn: 1, info: 2 };

/** Errors first, then warnings, then info (stable). */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.map((f, i) => [f, i] as const).sort((a, b) => RANK[a[0].severity] - RANK[b[0].severity] || a[1] - b[1]).map(([f]) => f);
}

/**
 * The report of `--fix` (09 §1.1): first-pass findings (repaired ones — or ones the repairs made disappear — with
 * `fixed: true`), plus findings only the second pass shows. A finding whose own repair failed is never `fixed`
 * (09 §1.2: a failed refresh stays a finding), but still names the backup its repair took when the file changed.
 * @param repaired finding keys whose repair succeeded, with the backup it took
 * @param failed finding keys whose repair failed, with the backup it took (if the file changed anyway)
 */
export function mergePasses(
  first: Finding[],
  second: Finding[],
  repaired: ReadonlyMap<string, string | undefined>,
  failed: ReadonlyMap<string, string | undefined> = new Map(),
): Finding[] {
  const secondKeys = new Set(second.map(findingKey));
  const firstKeys = new Set(first.map(findingKey));
  const out: Finding[] = [];
  for (const f of first) {
    const k = findingKey(f);
    if (!failed.has(k) && (repaired.has(k) || !secondKeys.has(k))) {
      const backup = repaired.get(k);
      out.push({ ...f, fixed: true, ...(backup ? { backup } : {}) });
    } else {
      const backup = failed.get(k);
      out.push(backup ? { ...f, backup } : f);
    }
  }
  for (const f of second) if (!firstKeys.has(findingKey(f))) out.push(f);
  return sortFindings(out);
}

/** Summary counts (unfixed findings by severity, fixed separately). */
export function summarize(findings: Finding[]): { error: number; warn: number; info: number; fixed: number } {
  const s = { error: 0, warn: 0, info: 0, fixed: 0 };
  for (const f of findings) {
    if (f.fixed) s.fixed++;
    else s[f.severity]++;
  }
  return s;
}

/** Findings in the `--json` shape (field order of 09 §1.3, no internal fields). */
export function findingJson(f: Finding): Record<string, unknown> {
  const out: Record<string, unknown> = { code: f.code, severity: f.severity, message: f.message };
  for (const k of ["path", "provider", "profileId", "fix"] as const) if (f[k] !== undefined) out[k] = f[k];
  out.autoFix = f.autoFix;
  if (f.fixed) out.fixed = true;
  if (f.backup) out.backup = f.backup;
  return out;
}

