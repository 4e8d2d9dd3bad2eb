/**
 * `jarvis models status` (spec 04): flag validation, the I/O edge (context, store, legacy files, ref resolution)
 * and printing. Read-only without `--probe` (D3).
 */
import fs from "node:fs";
import path from "node:path";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { UsageError } from "./errors.ts";
import { printJson, printLine, log } from "./log.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { computeStatus, DEFAULT_WARN_WITHIN_MS, refsToResolve, type StatusInput, type StatusReport } from "./status.ts";
import { configCredential } from "./config-credential.ts";
import { renderStatusText } from "./status-text.ts";
import { loadStore, storeSecretValues, type AuthStore } from "./store.ts";
import { registerSecret } from "./mask.ts";
import { envRecord, type EffectiveEnv } from "./env.ts";
import type { JarvisConfig } from "./config.ts";
import type { SecretRefDefaults } from "./secret-ref.ts";
import { renderProbeText, runProbes, type ProbeOptions, type ProbeReport } from "./probe.ts";
import { normalizeAuthProviderId, normalizeProviderId } from "./providers.ts";

export interface StatusFlags {
  json?: boolean;
  plain?: boolean;
  check?: boolean;
  /** Raw `--warn-within` value. */
  warnWithin?: string;
  resolveExec?: boolean;
  probe?: boolean;
  /** Raw values of every `--probe-*` flag that was given, by flag name. */
  probeFlags: Record<string, string[]>;
}

/**
 * Validate flags (04 §1) before anything is read.
 * @returns the warn window in ms
 * @throws UsageError (exit 64)
 */
function validateStatusFlags(f: StatusFlags): number {
  if (f.json && f.plain) throw new UsageError("Choose either --json or --plain, not both.");
  const given = Object.keys(f.probeFlags).filter((k) => f.probeFlags[k]!.length > 0);
  if (!f.probe && given.length > 0) throw new UsageError(`--${given[0]} requires --probe.`);
  if (f.probe && f.plain) throw new UsageError("--probe cannot be used with --plain output.");
  return f.warnWithin === undefined ? DEFAULT_WARN_WITHIN_MS : parseDuration(f.warnWithin, "h");
}

/** Absolute paths of legacy credential files that exist (04 §5.4 `auth.legacyFiles`). */
export function findLegacyFiles(agentDir: string, stateDir: string): string[] {
  return [path.join(agentDir, "auth.json"), path.join(stateDir, "credentials", "oauth.json")].filter((f) => fs.existsSync(f));
}

/**
 * The status model of a loaded context and store (04 §2): `computeStatus` with the context's paths, config, env
 * and agent. Options default to no resolved refs, no legacy files or extra warnings, the 24 h warn window, no check.
 */
export function statusOf(
  ctx: Context,
  store: AuthStore,
  o: { now: number; refs?: StatusInput["refs"]; legacyFiles?: string[]; extraWarnings?: StatusInput["extraWarnings"]; warnWithinMs?: number; check?: boolean },
): StatusReport {
  return computeStatus({
    configPath: ctx.paths.configPath,
    agentId: ctx.agent.agentId,
    agentDir: ctx.agent.agentDir,
    config: ctx.config,
    env: ctx.env,
    store,
    refs: o.refs ?? new Map(),
    secretDefaults: ctx.secretDefaults,
    legacyFiles: o.legacyFiles ?? [],
    extraWarnings: o.extraWarnings ?? [],
    now: o.now,
    warnWithinMs: o.warnWithinMs ?? DEFAULT_WARN_WITHIN_MS,
    check: o.check ?? false,
    showPath: ctx.show,
  });
}

/**
 * Run `models status`. Prints the report and returns the exit code (04 §6 with `--check`, else 0).
 * @throws JarvisError for an unloadable store or config (exit 1), UsageError for bad flags (64)
 */
export async function runModelsStatus(flags: StatusFlags, ctxInput: ContextInput, now = Date.now()): Promise<number> {
  const warnWithinMs = validateStatusFlags(flags);
  const probeOpts = flags.probe ? probeOptions(flags.probeFlags) : undefined;
  const ctx = loadContext(ctxInput);
  let store = loadStore(ctx.agent.storePath);
  let probes: ProbeReport | undefined;
  if (probeOpts) {
    probes = await runStatusProbes(ctx, store, probeOpts, now);
    // Probes record outcomes in the store: report the state they left behind.
    store = loadStore(ctx.agent.storePath);
  }
  const refs = refsToResolve(store, ctx.config, ctx.secretDefaults);
  const resolved = await resolveSecretRefs(refs, {
    env: envRecord(ctx.env),
    home: ctx.paths.home,
    config: ctx.config,
    allowExec: Boolean(flags.resolveExec || flags.check),
  });
  registerLoadedSecrets(store, ctx.config, ctx.env.vars, ctx.secretDefaults, resolved.values());
  const report: StatusReport = statusOf(ctx, store, {
    refs: resolved,
    legacyFiles: findLegacyFiles(ctx.agent.agentDir, ctx.paths.stateDir),
    extraWarnings: ctx.loaded.warnings,
    now,
    warnWithinMs,
    check: Boolean(flags.check),
  });
  if (probes) report.auth = { ...report.auth, probes } as StatusReport["auth"];
  for (const w of report.auth.warnings) log.warn(w.message);
  if (flags.json) printJson(report);
  else if (flags.plain) printLine(report.resolvedDefault);
  else {
    const lines = renderStatusText(report, ctx.show, ctx.show(path.join(ctx.paths.stateDir, ".env")));
    if (probes) {
      // The probe table goes before the `Check:` line.
      const at = report.check ? lines.length - 2 : lines.length;
      lines.splice(at, 0, "", ...renderProbeText(probes));
    }
    // One write: a 1000-profile report is hundreds of lines.
    printLine(lines.join("\n"));
  }
  if (!flags.check) return 0;
  return report.check!.exitCode;
}

/**
 * Register every credential this run loaded (store profiles, config plaintext keys, resolved refs) with the redactor,
 * so no printed line can carry one whole (02 §6, D9). Env credentials are registered by `loadContext`. Used by
 * `models status` and `doctor`.
 */
export function registerLoadedSecrets(
  store: AuthStore,
  config: JarvisConfig,
  envVars: EffectiveEnv["vars"],
  secretDefaults: SecretRefDefaults,
  resolved: Iterable<{ ok: boolean; value?: string }>,
): void {
  for (const v of storeSecretValues(store)) registerSecret(v);
  // Only plaintext config keys: markers (`OPENAI_API_KEY`, `ollama-local`, …) are names that must stay readable.
  for (const key of Object.keys(config.models?.providers ?? {})) {
    const cred = configCredential(normalizeAuthProviderId(key), config, envVars, secretDefaults);
    if (cred?.kind === "plaintext") registerSecret(cred.value);
  }
  for (const r of resolved) if (r.ok && r.value) registerSecret(r.value);
}

function positiveInt(raw: string | undefined, flag: string, fallback: number, message?: string): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1) throw new UsageError(message ?? `${flag} must be a positive integer.`);
  return Number(raw);
}

/**
 * Probe options from the raw `--probe-*` values (04 §1).
 * @throws UsageError for invalid values
 */
function probeOptions(f: Record<string, string[]>): ProbeOptions {
  const last = (k: string) => f[k]?.[f[k]!.length - 1];
  const provider = last("probe-provider");
  return {
    provider: provider !== undefined ? normalizeProviderId(provider) : null,
    profileIds: (f["probe-profile"] ?? []).flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean),
    timeoutMs: positiveInt(last("probe-timeout"), "--probe-timeout", 8000, "--probe-timeout must be a positive number (ms)."),
    concurrency: positiveInt(last("probe-concurrency"), "--probe-concurrency", 2),
    maxTokens: positiveInt(last("probe-max-tokens"), "--probe-max-tokens", 8),
  };
}

/** Run probes over the providers status lists; a TTY gets a progress line on stderr. */
async function runStatusProbes(ctx: Context, store: AuthStore, opts: ProbeOptions, now: number): Promise<ProbeReport> {
  const listing = statusOf(ctx, store, { now });
  const providers = listing.auth.oauth.providers.map((p) => p.provider);
  const tty = Boolean(process.stderr.isTTY);
  const report = await runProbes(
    providers,
    store,
    { config: ctx.config, env: ctx.env, home: ctx.paths.home, agentId: ctx.agent.agentId, storePath: ctx.agent.storePath, secretDefaults: ctx.secretDefaults },
    opts,
    Date.now,
    tty ? (n) => process.stderr.write(`\rProbing… ${n} done`) : undefined,
  );
  if (tty) process.stderr.write("\r\x1b[K");
  return report;
}
