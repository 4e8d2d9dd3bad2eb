/**
 * `jarvis secrets audit` (spec 06 §5): the I/O edge around the pure report builder in secrets-audit.ts.
 * Read-only: scans the config, `$STATE/.env` and every agent's store; exec refs only with `--allow-exec`.
 */
import fs from "node:fs";
import path from "node:path";
import { knownAgentIds, selectAgent } from "./agents.ts";
import { loadContext, type ContextInput } from "./context.ts";
import { envRecord } from "./env.ts";
import { readIfExists } from "./atomic.ts";
import { errnoCode, JarvisError } from "./errors.ts";
import { log, printJson, printLine } from "./log.ts";
import { resolveOrder } from "./order.ts";
import { normalizeAuthProviderId } from "./providers.ts";
import { auditRefsToResolve, auditSecrets, renderSecretsAuditText, secretsAuditExitCode, type SecretsAuditInput } from "./secrets-audit.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { loadStore, type AuthStore } from "./store.ts";
import { findLegacyFiles } from "./status-cmd.ts";

/** Agent dirs to scan: known agents plus every `$STATE/agents/*\/agent` directory (06 §5). */
function agentDirs(ctx: ReturnType<typeof loadContext>): string[] {
  const dirs = new Set<string>([ctx.agent.agentDir]);
  for (const id of knownAgentIds(ctx.config)) {
    dirs.add(selectAgent(ctx.config, { agentFlag: id, env: {}, stateDir: ctx.paths.stateDir, home: ctx.paths.home }).agentDir);
  }
  const root = path.join(ctx.paths.stateDir, "agents");
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(root);
  } catch {
    // no agents dir yet
  }
  for (const name of entries.sort()) {
    const d = path.join(root, name, "agent");
    if (fs.existsSync(d)) dirs.add(d);
  }
  return [...dirs];
}

/**
 * Run the audit and print it. @returns the exit code of 06 §5 (0 / 1 / 2)
 */
export async function runSecretsAudit(flags: { check?: boolean; json?: boolean; allowExec?: boolean }, input: ContextInput, now = Date.now()): Promise<number> {
  const ctx = loadContext(input);
  let scanFailed = false;
  const stores: AuthStore[] = [];
  const legacy = new Set<string>();
  for (const dir of agentDirs(ctx)) {
    try {
      const s = loadStore(path.join(dir, "auth-profiles.json"));
      if (s.status !== "missing") stores.push(s);
    } catch (e) {
      scanFailed = true;
      log.error(e instanceof JarvisError ? e.message : String(e));
    }
    for (const f of findLegacyFiles(dir, ctx.paths.stateDir)) legacy.add(f);
  }
  const envPath = path.join(ctx.paths.stateDir, ".env");
  let dotenv: SecretsAuditInput["dotenv"] = null;
  try {
    const text = readIfExists(envPath);
    if (text !== null) dotenv = { path: envPath, text };
  } catch (e) {
    // A .env that exists but cannot be read is a file that could not be scanned (06 §5: exit 1), not a clean one.
    scanFailed = true;
    log.error(`cannot read ${envPath} (${errnoCode(e) ?? String(e)})`);
  }
  const current = stores.find((s) => s.path === ctx.agent.storePath);
  const eligible = new Set<string>();
  if (current) {
    for (const p of Object.values(current.profiles)) {
      const pid = normalizeAuthProviderId(p.provider);
      if (resolveOrder(pid, current, ctx.config, now, undefined, ctx.secretDefaults).ids.length > 0) eligible.add(pid);
    }
  }
  const auditInput: SecretsAuditInput = {
    configPath: ctx.paths.configPath,
    config: ctx.loaded.exists ? ctx.loaded.raw : null,
    dotenv,
    stores,
    legacyFiles: [...legacy],
    providersWithEligibleProfiles: eligible,
    secretDefaults: ctx.secretDefaults,
  };
  const resolved = await resolveSecretRefs(auditRefsToResolve(auditInput), {
    env: envRecord(ctx.env),
    home: ctx.paths.home,
    config: ctx.config,
    allowExec: Boolean(flags.allowExec),
  });
  const report = auditSecrets(auditInput, resolved);
  if (flags.json) printJson(report);
  else for (const line of renderSecretsAuditText(report, ctx.show)) printLine(line);
  return secretsAuditExitCode(report, { check: Boolean(flags.check), scanFailed });
}
