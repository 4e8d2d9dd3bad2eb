/**
 * `jarvis monitor` (spec 10 §1, D23), the pure part: what install writes (systemd units, the crontab line, Termux
 * widget scripts, `$STATE/monitor/config.json`) and how `monitor run` turns a `models status --check --json` run into
 * an outcome, a notification decision, a message and an exit code. No I/O here; lib/monitor-cmd.ts is the edge.
 */
import { hasText } from "./_utils.ts";
import path from "node:path";
import { parseDuration } from "./duration.ts";
import { EXIT, JarvisError, UsageError } from "./errors.ts";
import { envValue, isTermux, type EnvSnapshot } from "./paths.ts";
import { checkItemText, type CheckItem } from "./status.ts";

export type MonitorMethod = "systemd" | "cron" | "termux";
export type MonitorOutcome = "ok" | "expiring" | "failed" | "check_failed";

/** The tag that marks jarvis's own crontab line (10 §1.1). */
export const CRON_TAG = "# jarvis-auth-monitor";
export const SYSTEMD_SERVICE = "jarvis-auth-monitor.service";
export const SYSTEMD_TIMER = "jarvis-auth-monitor.timer";
/** At most one notification per hour (10 §1.2 step 4). */
const NOTIFY_INTERVAL_MS = 3_600_000;
export const CHECK_TIMEOUT_MS = 120_000;
export const NOTIFY_COMMAND_TIMEOUT_MS = 30_000;
export const NTFY_TIMEOUT_MS = 10_000;
const TERMUX_DEFAULT_PREFIX = "/data/data/com.termux/files/usr";

/** Notification settings: `$STATE/monitor/config.json`, overridden field by field by the `monitor run` flags. */
export interface MonitorSettings {
  notifyCommand?: string;
  ntfyUrl?: string;
  /** Duration text as given (`"48h"`), passed on to `models status --warn-within`. */
  warnWithin?: string;
}

/** Throttle state `$STATE/monitor/state.json`; times in epoch ms, `lastNotifiedAt` null before the first one. */
export interface MonitorState {
  lastRunAt: number | null;
  lastOutcome: MonitorOutcome | null;
  lastNotifiedAt: number | null;
}

/** The shell for `--notify-command`: `$PREFIX/bin/sh` on Termux, else `/bin/sh` (10 §1.2). */
export function notifyShell(env: EnvSnapshot): string {
  return isTermux(env) ? path.join(envValue(env, "PREFIX") ?? TERMUX_DEFAULT_PREFIX, "bin", "sh") : "/bin/sh";
}

/** Interpreter of the widget scripts: `$PREFIX/bin/sh` at install time, default Termux's (10 §1.1). */
export function termuxShell(env: EnvSnapshot): string {
  return path.join(envValue(env, "PREFIX") ?? TERMUX_DEFAULT_PREFIX, "bin", "sh");
}

/**
 * Exactly one of `--systemd`, `--cron`, `--termux`.
 * @throws UsageError (exit 64)
 */
export function selectMethod(flags: { systemd?: boolean; cron?: boolean; termux?: boolean }): MonitorMethod {
  const given = (["systemd", "cron", "termux"] as const).filter((m) => flags[m]);
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0 ? "Choose one of --systemd, --cron or --termux." : `Choose only one of ${given.map((m) => `--${m}`).join(", ")}.`,
    );
  }
  return given[0]!;
}

/**
 * Validate notification flags (raw strings from argv). Undefined stays undefined.
 * @throws UsageError for an empty `--notify-command`, a `--ntfy` that is not an http(s) URL, or an invalid
 *   `--warn-within` (`invalid duration: <raw>`)
 */
export function settingsFromFlags(f: { notifyCommand?: string; ntfy?: string; warnWithin?: string }): MonitorSettings {
  const out: MonitorSettings = {};
  if (f.notifyCommand !== undefined) {
    if (f.notifyCommand.trim() === "") throw new UsageError("--notify-command must not be empty.");
    out.notifyCommand = f.notifyCommand;
  }
  if (f.ntfy !== undefined) {
    if (!isHttpUrl(f.ntfy)) throw new UsageError(`--ntfy must be an http(s) URL, e.g. https://ntfy.sh/<topic> (got "${f.ntfy}").`);
    out.ntfyUrl = f.ntfy;
  }
  if (f.warnWithin !== undefined) {
    parseDuration(f.warnWithin, "h");
    out.warnWithin = f.warnWithin;
  }
  return out;
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

/**
 * Parse `$STATE/monitor/config.json` (`null` = missing → no settings). Unknown keys are ignored.
 * @throws JarvisError `monitor_config_invalid` (exit 1) naming the file and the bad field
 */
export function parseMonitorConfig(text: string | null, file: string): MonitorSettings {
  if (text === null) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new JarvisError("monitor_config_invalid", `${file} is not valid JSON; fix it or re-run jarvis monitor install.`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new JarvisError("monitor_config_invalid", `${file} must hold a JSON object; fix it or re-run jarvis monitor install.`);
  }
  const d = doc as Record<string, unknown>;
  const out: MonitorSettings = {};
  for (const key of ["notifyCommand", "ntfyUrl", "warnWithin"] as const) {
    const v = d[key];
    if (v === undefined) continue;
    if (!hasText(v)) throw new JarvisError("monitor_config_invalid", `${file}: "${key}" must be a non-empty string.`);
    out[key] = v;
  }
  if (out.ntfyUrl !== undefined && !isHttpUrl(out.ntfyUrl)) throw new JarvisError("monitor_config_invalid", `${file}: "ntfyUrl" must be an http(s) URL.`);
  if (out.warnWithin !== undefined) {
    try {
      parseDuration(out.warnWithin, "h");
    } catch {
      throw new JarvisError("monitor_config_invalid", `${file}: "warnWithin" is not a valid duration: ${out.warnWithin}`);
    }
  }
  return out;
}

/** Flags override the config file field by field (10 §1.2). */
export function mergeSettings(config: MonitorSettings, flags: MonitorSettings): MonitorSettings {
  return { ...config, ...flags };
}

/** Parse `state.json`; anything unreadable counts as "never ran, never notified" (fails toward notifying). */
export function parseMonitorState(text: string | null): MonitorState {
  const empty: MonitorState = { lastRunAt: null, lastOutcome: null, lastNotifiedAt: null };
  if (text === null) return empty;
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch {
    return empty;
  }
  if (typeof d !== "object" || d === null) return empty;
  const o = d as Record<string, unknown>;
  const ms = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const outcome = ["ok", "expiring", "failed", "check_failed"].includes(o.lastOutcome as string) ? (o.lastOutcome as MonitorOutcome) : null;
  return { lastRunAt: ms(o.lastRunAt), lastOutcome: outcome, lastNotifiedAt: ms(o.lastNotifiedAt) };
}

// ---------------------------------------------------------------------------------------------------------------
// run: outcome, notification, output

/** What running `models status --check --json` produced. */
export type CheckRun =
  | { kind: "exited"; exitCode: number; stdout: string }
  | { kind: "signal"; signal: string; stdout: string }
  | { kind: "spawn_error"; command: string; message: string }
  | { kind: "timeout"; timeoutMs: number };

export interface CheckResult {
  outcome: MonitorOutcome;
  /** The child's exit code; null when it did not exit normally. */
  checkExitCode: number | null;
  /** `<profileId|provider> <code>` of `check.failures[]` (failed) or `check.warnings[]` (expiring). */
  items: string[];
  /** Why the check failed (check_failed only). */
  reason?: string;
}

function isCheckItem(v: unknown): v is CheckItem {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.code === "string" && typeof o.provider === "string" && (o.profileId === undefined || typeof o.profileId === "string");
}

/** The `check` block of a status report, or undefined when stdout is not one. */
function parseCheck(stdout: string): { doc: unknown; check?: { exitCode: number; failures: CheckItem[]; warnings: CheckItem[] } } {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return { doc: undefined };
  }
  const c = (doc as { check?: unknown } | null)?.check as Record<string, unknown> | undefined;
  if (typeof c !== "object" || c === null) return { doc };
  const { exitCode, failures, warnings } = c;
  if (typeof exitCode !== "number" || !Array.isArray(failures) || !Array.isArray(warnings)) return { doc };
  if (!failures.every(isCheckItem) || !warnings.every(isCheckItem)) return { doc };
  return { doc, check: { exitCode, failures, warnings } };
}

function errorDocMessage(doc: unknown): string | undefined {
  const d = doc as { ok?: unknown; error?: { message?: unknown } } | null;
  return d && d.ok === false && typeof d.error?.message === "string" ? d.error.message : undefined;
}

/**
 * Outcome of a check run (10 §1.2 steps 2–3): exit 0/2/1 with a matching status report → ok/expiring/failed;
 * anything else → `check_failed` (fail closed). Decided from the exit code and the JSON only.
 */
export function classifyCheck(run: CheckRun): CheckResult {
  if (run.kind === "spawn_error") return { outcome: "check_failed", checkExitCode: null, items: [], reason: `could not run ${run.command}: ${run.message}` };
  if (run.kind === "timeout") return { outcome: "check_failed", checkExitCode: null, items: [], reason: `models status --check did not finish within ${run.timeoutMs} ms` };
  if (run.kind === "signal") return { outcome: "check_failed", checkExitCode: null, items: [], reason: `models status --check was killed by ${run.signal}` };
  const code = run.exitCode;
  const { doc, check } = parseCheck(run.stdout);
  const failedCheck = (reason: string): CheckResult => ({ outcome: "check_failed", checkExitCode: code, items: [], reason });
  if (code !== 0 && code !== 1 && code !== 2) return failedCheck(`models status --check exited with ${code}`);
  if (!check) {
    const message = errorDocMessage(doc);
    if (code === 1 && message !== undefined) return failedCheck(message);
    return failedCheck(`models status --check (exit ${code}) did not print a status report`);
  }
  if (check.exitCode !== code) return failedCheck(`models status --check exited with ${code} but its report says ${check.exitCode}`);
  if (code === 0) return { outcome: "ok", checkExitCode: 0, items: [] };
  if (code === 2) return { outcome: "expiring", checkExitCode: 2, items: check.warnings.map(checkItemText) };
  return { outcome: "failed", checkExitCode: 1, items: check.failures.map(checkItemText) };
}

/**
 * Notify when the outcome is not ok and the last notification is at least an hour old (10 §1.2 step 4). A
 * `lastNotifiedAt` in the future (clock moved back) does not silence alerts.
 */
export function shouldNotify(outcome: MonitorOutcome, lastNotifiedAt: number | null, now: number): boolean {
  if (outcome === "ok") return false;
  if (lastNotifiedAt === null || lastNotifiedAt > now) return true;
  return now - lastNotifiedAt >= NOTIFY_INTERVAL_MS;
}

const LABEL: Record<MonitorOutcome, string> = { ok: "OK", expiring: "EXPIRING", failed: "EXPIRED/MISSING", check_failed: "CHECK FAILED" };

/** `jarvis auth on <hostname>: <LABEL> — <items> — run: jarvis models status` (10 §1.2). */
export function notificationMessage(r: CheckResult, hostname: string): string {
  const detail = r.outcome === "check_failed" ? r.reason ?? "" : r.items.join(", ");
  return `jarvis auth on ${hostname}: ${LABEL[r.outcome]} — ${detail || "-"} — run: jarvis models status`;
}

/** ntfy `Priority` header: high for failures, default for expiring. */
export function ntfyPriority(outcome: MonitorOutcome): "high" | "default" {
  return outcome === "expiring" || outcome === "ok" ? "default" : "high";
}

/** The one stdout line: `ok` · `expiring: <items>` · `failed: <items>` · `check failed: <reason>`. */
export function outcomeLine(r: CheckResult): string {
  switch (r.outcome) {
    case "ok":
      return "ok";
    case "expiring":
      return `expiring: ${r.items.join(", ")}`;
    case "failed":
      return `failed: ${r.items.join(", ")}`;
    case "check_failed":
      return `check failed: ${r.reason ?? "unknown"}`;
  }
}

/** Exit 0 ok, 2 expiring, 1 failed or check_failed (10 §1.2 step 6). */
export function outcomeExitCode(outcome: MonitorOutcome): number {
  return outcome === "ok" ? EXIT.ok : outcome === "expiring" ? EXIT.expiring : EXIT.failure;
}

/** The `--json` document of `monitor run`; `reason` only for check_failed, `notifyError` only after a failure. */
export function runDocument(r: CheckResult, notified: boolean, notifyError?: string) {
  return {
    outcome: r.outcome,
    exitCode: outcomeExitCode(r.outcome),
    checkExitCode: r.checkExitCode,
    items: r.items,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    notified,
    ...(notifyError !== undefined ? { notifyError } : {}),
  };
}
