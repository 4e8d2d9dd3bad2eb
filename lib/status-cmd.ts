/**
 * `jarvis models status` (spec 04): flag validation, the I/O edge (context, store, legacy files, ref resolution)
 * and printing. Read-only without `--probe` (D3).
 */
import fs from "node:fs";
import path from "node:path";
import { loadContext, type ContextInput } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { JarvisError, UsageError } from "./errors.ts";
import { printJson, printLine, log } from "./log.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { computeStatus, refsToResolve, type StatusReport } from "./status.ts";
import { renderStatusText } from "./status-text.ts";
import { loadStore } from "./store.ts";
import { envRecord } from "./env.ts";

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
export function validateStatusFlags(f: StatusFlags): number {
  if (f.json && f.plain) throw new UsageError("Choose either --json or --plain, not both.");
  const given = Object.keys(f.probeFlags).filter((k) => f.probeFlags[k]!.length > 0);
  if (!f.probe && given.length > 0) throw new UsageError(`--${given[0]} requires --probe.`);
  if (f.probe && f.plain) throw new UsageError("--probe cannot be used with --plain output.");
  return f.warnWithin === undefined ? 86_400_000 : parseDuration(f.warnWithin, "h");
}

/** Absolute paths of legacy credential files that exist (04 §5.4 `auth.legacyFiles`). */
export function findLegacyFiles(agentDir: string, stateDir: string): string[] {
  return [path.join(agentDir, "auth.json"), path.join(stateDir, "credentials", "oauth.json")].filter((f) => fs.existsSync(f));
}

/**
 * Run `models status`. Prints the report and returns the exit code (04 §6 with `--check`, else 0).
 * @throws JarvisError for an unloadable store or config (exit 1), UsageError for bad flags (64)
 */
export async function runModelsStatus(flags: StatusFlags, ctxInput: ContextInput, now = Date.now()): Promise<number> {
  const warnWithinMs = validateStatusFlags(flags);
  if (flags.probe) throw new JarvisError("not_implemented", "--probe is not available in this build yet.");
  const ctx = loadContext(ctxInput);
  const store = loadStore(ctx.agent.storePath);
  const refs = refsToResolve(store, ctx.config, ctx.secretDefaults);
  const resolved = await resolveSecretRefs(refs, {
    env: envRecord(ctx.env),
    home: ctx.paths.home,
    config: ctx.config,
    allowExec: Boolean(flags.resolveExec || flags.check),
  });
  const report: StatusReport = computeStatus({
    configPath: ctx.paths.configPath,
    agentId: ctx.agent.agentId,
    agentDir: ctx.agent.agentDir,
    config: ctx.config,
    env: ctx.env,
    store,
    refs: resolved,
    secretDefaults: ctx.secretDefaults,
    legacyFiles: findLegacyFiles(ctx.agent.agentDir, ctx.paths.stateDir),
    extraWarnings: ctx.loaded.warnings,
    now,
    warnWithinMs,
    check: Boolean(flags.check),
    showPath: ctx.show,
  });
  for (const w of report.auth.warnings) log.warn(w.message);
  if (flags.json) printJson(report);
  else if (flags.plain) printLine(report.resolvedDefault);
  else for (const line of renderStatusText(report, ctx.show, ctx.show(path.join(ctx.paths.stateDir, ".env")))) printLine(line);
  if (!flags.check) return 0;
  return report.check!.exitCode;
}
