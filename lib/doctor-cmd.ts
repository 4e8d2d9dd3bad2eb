/**
 * `jarvis doctor [--fix] [--json] [--skip-exec]` (spec 09 §1): the read-only edge that loads everything the checks
 * need without ever stopping on a broken file, the `--fix` driver (repairs, then a second pass), and the output.
 */
import fs from "node:fs";
import path from "node:path";
import { knownAgentIds, selectAgent } from "./agents.ts";
import { parseConfigText, substituteConfig, validateConfig, type JarvisConfig } from "./config.ts";
import { loadProcessEnv, type ContextInput } from "./context.ts";
import {
  Backups,
  fileStamp,
  importLegacyFile,
  removeIfUnchanged,
  repairConfig,
  repairMode,
  repairRefresh,
  repairStore,
  type ConfigRepair,
  type RepairOutcome,
} from "./doctor-repair.ts";
import {
  findingJson,
  findingKey,
  mergePasses,
  runChecks,
  sortFindings,
  summarize,
  type DoctorData,
  type FileInfo,
  type Finding,
  type FoundFile,
} from "./doctor.ts";
import { applyEnvSource, configEnvVars, envRecord, parseDotenv, type EnvEntry } from "./env.ts";
import { errnoCode, EXIT, JarvisError } from "./errors.ts";
import { lockTimingFromEnv, parseLockContent } from "./lock.ts";
import { log, printJson, printLine } from "./log.ts";
import { readSecretDefaults, resolveSecretRefs, validateSecretsConfig } from "./secrets.ts";
import { configSecretRefSites } from "./secrets-audit.ts";
import { refKey } from "./secret-ref.ts";
import { displayPath, resolvePaths, type ResolvedPaths } from "./paths.ts";
import { refsToResolve } from "./status.ts";
import { emptyStore, loadStore, type AuthStore } from "./store.ts";
import { registerLoadedSecrets } from "./status-cmd.ts";
import { currentUid } from "./secret-paths.ts";
import { toDict } from "./dict.ts";

export interface DoctorFlags {
  fix?: boolean;
  json?: boolean;
  skipExec?: boolean;
}

type Doc = Record<string, any>;

function fileInfo(p: string): FileInfo {
  try {
    const st = fs.statSync(p);
    return { path: p, exists: true, isDir: st.isDirectory(), mode: st.mode & 0o7777, uid: st.uid };
  } catch (e) {
    const code = errnoCode(e);
    return code === "ENOENT" || code === "ENOTDIR" ? { path: p, exists: false } : { path: p, exists: false, error: code ?? String(e) };
  }
}

/**
 * Delete the value at a dot path produced by `validateConfig` (keys may themselves contain dots, e.g. model refs):
 * the longest key that matches the path prefix wins at each level.
 * @returns whether something was deleted
 */
function deleteDotPath(obj: Doc, dot: string): boolean {
  const keys = Object.keys(obj).sort((a, b) => b.length - a.length);
  for (const k of keys) {
    if (dot === k) {
      if (Array.isArray(obj)) obj.splice(Number(k), 1);
      else delete obj[k];
      return true;
    }
    if (dot.startsWith(k + ".") && obj[k] && typeof obj[k] === "object") return deleteDotPath(obj[k], dot.slice(k.length + 1));
  }
  return false;
}

/** The config as doctor reads it: never throws; problems are returned for findings, invalid parts pruned. */
function readConfig(configPath: string): { data: DoctorData["config"]; usable: Doc } {
  const data: DoctorData["config"] = { path: configPath, exists: false, raw: {}, invalid: [], missingVars: [] };
  let text: string;
  try {
    text = fs.readFileSync(configPath, "utf8");
  } catch (e) {
    const code = errnoCode(e);
    if (code !== "ENOENT" && code !== "ENOTDIR") data.unreadable = `Invalid config ${configPath}: cannot read it (${code ?? String(e)})`;
    return { data, usable: {} };
  }
  data.exists = true;
  try {
    data.raw = parseConfigText(text, configPath);
  } catch (e) {
    data.parseError = e instanceof Error ? e.message : String(e);
    return { data, usable: {} };
  }
  // validateConfig stops at 5 lines and includes the `secrets` block's problems; doctor lists every one of those, once.
  data.invalid = [...new Set([...validateConfig(data.raw), ...validateSecretsConfig(data.raw.secrets)])];
  // The other checks run on what is left once the wrongly typed keys are removed (in memory only).
  const usable = toDict(data.raw);
  for (let i = 0; i < 50; i++) {
    const first = validateConfig(usable)[0];
    if (!first) return { data, usable };
    const at = first.slice(0, first.indexOf(": "));
    if (!deleteDotPath(usable, at)) delete usable[at.split(".")[0]!];
  }
  return { data, usable: {} };
}

/** `${VAR}` substitution that records every missing variable instead of stopping at the first (01 §3.2). */
function substituteTolerant(raw: Doc, lookup: (name: string) => string | undefined, envAlias: string): { cfg: JarvisConfig; missing: string[] } {
  const pretend = new Map<string, string>();
  const missing: string[] = [];
  for (let i = 0; i < 100; i++) {
    try {
      return { cfg: substituteConfig(raw, (n) => lookup(n) ?? pretend.get(n), envAlias), missing };
    } catch (e) {
      const name = e instanceof JarvisError ? /references \$\{([A-Z_][A-Z0-9_]*)\}/.exec(e.message)?.[1] : undefined;
      if (!name) throw e;
      missing.push(e instanceof Error ? e.message : String(e));
      pretend.set(name, "");
    }
  }
  return { cfg: {}, missing };
}

/** Lock and temp files in the jarvis directories (03 §4 leftovers). */
function scanLeftovers(dirs: string[]): { locks: FoundFile[]; tmps: FoundFile[] } {
  const locks: FoundFile[] = [];
  const tmps: FoundFile[] = [];
  for (const dir of [...new Set(dirs)]) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const isLock = name.endsWith(".lock");
      const isTmp = /\.\d+\.[0-9a-f]{8}\.tmp$/.test(name);
      if (!isLock && !isTmp) continue;
      const p = path.join(dir, name);
      try {
        const st = fs.statSync(p);
        if (!st.isFile()) continue;
        const bytes = fs.readFileSync(p);
        const found: FoundFile = { path: p, mtimeMs: st.mtimeMs, bytes: bytes.toString("base64") };
        if (isLock) locks.push({ ...found, ...parseLockContent(bytes.toString("utf8")) });
        else tmps.push(found);
      } catch {
        // vanished or unreadable: nothing to judge
      }
    }
  }
  return { locks, tmps };
}

function readStore(storePath: string): { store: AuthStore; error?: DoctorData["storeError"] } {
  try {
    return { store: loadStore(storePath) };
  } catch (e) {
    const code = e instanceof JarvisError ? e.code : "";
    const finding = code === "store_version" ? "store.version" : code === "store_unreadable" ? "fs.unreadable" : "store.parse_error";
    return { store: emptyStore(storePath), error: { code: finding, message: e instanceof Error ? e.message : String(e) } };
  }
}

/**
 * Load everything doctor checks. Read-only: no file, lock or directory is created (09 §1, D3); like every command it
 * fills `process.env` with lower env sources (exec providers see them).
 * @throws UsageError for a bad `--profile` / `--agent` (exit 64)
 */
async function loadDoctorData(input: ContextInput, paths: ResolvedPaths, skipExec: boolean, now: number): Promise<DoctorData> {
  const show = (p: string) => displayPath(p, paths.home);
  const stateEnvPath = path.join(paths.stateDir, ".env");
  const stateEnvDisplay = show(stateEnvPath);
  const { data: config, usable } = readConfig(paths.configPath);
  const env = loadProcessEnv(input, paths, config.exists ? config.raw.env : undefined);
  const secretDefaults = readSecretDefaults(usable);
  const { cfg, missing } = substituteTolerant(usable, (n) => env.vars.get(n)?.value, secretDefaults.env ?? "default");
  config.missingVars = missing;
  const agent = selectAgent(cfg, { agentFlag: input.agentFlag, env: input.processEnv, stateDir: paths.stateDir, home: paths.home });
  const agentDirs = knownAgentIds(cfg).map((id) => ({
    agentId: id,
    agentDir: selectAgent(cfg, { agentFlag: id, env: {}, stateDir: paths.stateDir, home: paths.home }).agentDir,
  }));
  const { store, error: storeError } = readStore(agent.storePath);
  // Every ref status reads, plus every config ref site secrets audit checks (06 §1), for `auth.unresolved_ref`.
  const wanted = new Map(refsToResolve(store, cfg, secretDefaults).map((r) => [refKey(r), r]));
  for (const site of configSecretRefSites(config.exists ? config.raw : null, config.path, secretDefaults)) if ("ref" in site) wanted.set(refKey(site.ref), site.ref);
  const refs = await resolveSecretRefs([...wanted.values()], {
    env: envRecord(env),
    home: paths.home,
    config: cfg,
    allowExec: !skipExec,
  });
  registerLoadedSecrets(store, cfg, env.vars, secretDefaults, refs.values());

  // What a daemon started from any directory with an empty environment sees (10 §5).
  const daemonVars = new Map<string, EnvEntry>();
  let stateEnvText = "";
  try {
    stateEnvText = fs.readFileSync(stateEnvPath, "utf8");
  } catch {
    // missing or unreadable: reported through env warnings / file checks
  }
  applyEnvSource(daemonVars, "state-dotenv", parseDotenv(stateEnvText), [], stateEnvDisplay);
  if (config.exists) applyEnvSource(daemonVars, "config-env", configEnvVars(config.raw.env), [], "jarvis.json env");

  const { locks, tmps } = scanLeftovers([paths.stateDir, path.dirname(paths.configPath), agent.agentDir, agent.sessionsDir, path.join(paths.stateDir, "credentials")]);
  const legacy: DoctorData["legacy"] = [];
  for (const [kind, file] of [["auth_json", path.join(agent.agentDir, "auth.json")], ["oauth_json", path.join(paths.stateDir, "credentials", "oauth.json")]] as const) {
    if (!fs.existsSync(file)) continue;
    try {
      legacy.push({ kind, path: file, doc: JSON.parse(fs.readFileSync(file, "utf8")) });
    } catch (e) {
      legacy.push({ kind, path: file, error: errnoCode(e) ?? "not valid JSON" });
    }
  }
  return {
    now,
    uid: currentUid(),
    show,
    home: paths.home,
    stateDir: paths.stateDir,
    stateEnvDisplay,
    files: {
      state: fileInfo(paths.stateDir),
      agentDir: fileInfo(agent.agentDir),
      store: fileInfo(agent.storePath),
      config: fileInfo(paths.configPath),
      dotenv: fileInfo(stateEnvPath),
    },
    config,
    cfg,
    secretDefaults,
    env,
    daemonVars,
    agent,
    agentDirs,
    store,
    storeError,
    refs,
    locks,
    tmps,
    staleMs: lockTimingFromEnv(process.env).staleMs,
    legacy,
  };
}

/**
 * Apply the repairs of `findings` (09 §1.2) in a safe order: stale locks and temp files, the store migration, legacy
 * imports, config edits, OAuth refreshes, then permissions.
 * @returns keys of repaired and of failed findings (→ the backup the repair took, if any) and `doctor.migration_failed`
 *   findings; every backup taken is named by the findings of the repair that took it
 */
async function applyRepairs(
  findings: Finding[],
  d: DoctorData,
): Promise<{ repaired: Map<string, string | undefined>; failed: Map<string, string | undefined>; failures: Finding[] }> {
  const repaired = new Map<string, string | undefined>();
  const failed = new Map<string, string | undefined>();
  const failures: Finding[] = [];
  const stamp = fileStamp(d.now);
  const backups = new Backups(stamp);
  const done = (fs_: Finding[], r: RepairOutcome, migration: boolean) => {
    if (r.ok) for (const f of fs_) repaired.set(findingKey(f), r.backup);
    else {
      for (const f of fs_) failed.set(findingKey(f), r.backup);
      if (migration) failures.push({ code: "doctor.migration_failed", severity: "error", message: r.error, path: fs_[0]?.path, autoFix: false, ...(r.backup ? { backup: r.backup } : {}) });
      else log.warn(r.error);
    }
  };
  const withRepair = findings.filter((f) => f.repair);
  for (const f of withRepair) if (f.repair!.kind === "unlink") done([f], removeIfUnchanged(f.repair!.path, f.repair!.bytes), false);
  const storeFs = withRepair.filter((f) => f.repair!.kind === "store");
  if (storeFs.length) done(storeFs, await repairStore(d.store.path, backups), true);
  for (const f of withRepair) {
    const r = f.repair!;
    if (r.kind === "legacy") done([f], await importLegacyFile(r.file, r.legacy, d.store.path, backups, stamp), true);
  }
  const cfgFs = withRepair.filter((f) => f.repair!.kind === "config");
  if (cfgFs.length) {
    const repair: ConfigRepair = { orderRemove: {}, modes: {} };
    for (const f of cfgFs) {
      const r = f.repair as Extract<Finding["repair"], { kind: "config" }>;
      Object.assign(repair.orderRemove, r.orderRemove ?? {});
      if (r.mode) repair.modes[r.mode.id] = r.mode.mode;
    }
    done(cfgFs, await repairConfig(d.config.path, repair, backups, d.show), false);
  }
  for (const f of withRepair) {
    const r = f.repair!;
    if (r.kind !== "refresh") continue;
    const ctx = { storePath: d.store.path, config: d.cfg, env: envRecord(d.env), home: d.home, secretDefaults: d.secretDefaults, now: Date.now };
    done([f], await repairRefresh(ctx, r.profileId, backups), false);
  }
  for (const f of withRepair) if (f.repair!.kind === "chmod") done([f], repairMode(f.repair!.path), false);
  return { repaired, failed, failures };
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Text report of 09 §1.3. */
export function renderDoctorText(agentId: string, agentDirShown: string, findings: Finding[], fixMode: boolean): string[] {
  const lines = [`jarvis doctor — agent ${agentId} (${agentDirShown})`];
  const label = { error: "ERROR", warn: "WARN", info: "INFO" } as const;
  for (const f of findings) {
    const tag = f.fixed ? "FIXED" : label[f.severity];
    lines.push(`${tag.padEnd(7)}${f.code.padEnd(23)} ${f.message}`);
    if (f.fix) lines.push(`       fix: ${f.fix}${f.autoFix && !f.fixed && !fixMode ? "  (automatic with --fix)" : ""}`);
    if (f.backup) lines.push(`       backup: ${f.backup}`);
  }
  if (findings.length === 0) lines.push("No problems found.");
  const s = summarize(findings);
  let summary = `Summary: ${plural(s.error, "error", "errors")}, ${plural(s.warn, "warning", "warnings")}, ${s.info} info.`;
  const auto = findings.filter((f) => f.autoFix && !f.fixed).length;
  if (fixMode) summary += ` ${s.fixed} fixed.`;
  else if (auto > 0) summary += ` ${plural(auto, "automatic repair", "automatic repairs")} available: jarvis doctor --fix`;
  lines.push(summary);
  return lines;
}

/**
 * Run `jarvis doctor`. Prints the report; never throws for broken state (those are findings).
 * @returns 0 when no error-level finding remains (after the repairs with `--fix`), else 1
 * @throws UsageError for a bad `--profile` / `--agent` (64)
 */
export async function runDoctor(flags: DoctorFlags, input: ContextInput): Promise<number> {
  const paths = resolvePaths(input.processEnv, input.profileFlag);
  const skipExec = Boolean(flags.skipExec);
  const load = async (now: number): Promise<{ data?: DoctorData; findings: Finding[] }> => {
    try {
      const data = await loadDoctorData(input, paths, skipExec, now);
      return { data, findings: sortFindings(runChecks(data)) };
    } catch (e) {
      if (e instanceof JarvisError && e.exitCode === EXIT.usage) throw e;
      return { findings: [{ code: "doctor.check_failed", severity: "error", message: `check "load" failed: ${e instanceof Error ? e.message : String(e)}`, autoFix: false }] };
    }
  };
  const first = await load(Date.now());
  let findings = first.findings;
  let fixApplied = false;
  if (flags.fix && first.data) {
    const { repaired, failed, failures } = await applyRepairs(findings, first.data);
    fixApplied = repaired.size > 0;
    const second = await load(Date.now());
    findings = sortFindings([...mergePasses(findings, second.findings, repaired, failed), ...failures]);
  }
  const agentId = first.data?.agent.agentId ?? "?";
  const agentDir = first.data?.agent.agentDir ?? "";
  const summary = summarize(findings);
  const code = summary.error > 0 ? 1 : 0;
  if (flags.json) {
    printJson({ ok: code === 0, agentId, agentDir, fixApplied, summary, findings: findings.map(findingJson) });
  } else {
    for (const line of renderDoctorText(agentId, displayPath(agentDir, paths.home), findings, Boolean(flags.fix))) printLine(line);
  }
  return code;
}
