/**
 * `jarvis monitor install | uninstall | run` (spec 10 §1), the I/O edge: files, `crontab`, `systemctl`, the child
 * `models status --check --json`, notifications and the throttle state. Decisions live in lib/monitor.ts.
 *
 * Only paths are resolved here, never the config or the env files: `monitor run` must report a broken config as
 * `check_failed` through its child instead of dying before it can notify, and a generated file never needs a
 * credential.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { atomicWriteFile, readIfExists, serializeJson } from "./atomic.ts";
import type { ContextInput } from "./context.ts";
import { errnoCode, JarvisError } from "./errors.ts";
import { postText } from "./http.ts";
import { ensurePrivateDir, withFileLock } from "./lock.ts";
import { log, printJson, printLine } from "./log.ts";
import { redact } from "./mask.ts";
import {
  CHECK_TIMEOUT_MS,
  classifyCheck,
  CRON_TAG,
  mergeSettings,
  notificationMessage,
  notifyShell,
  NOTIFY_COMMAND_TIMEOUT_MS,
  NTFY_TIMEOUT_MS,
  ntfyPriority,
  outcomeExitCode,
  outcomeLine,
  parseMonitorConfig,
  parseMonitorState,
  runDocument,
  selectMethod,
  settingsFromFlags,
  shouldNotify,
  termuxShell,
  type CheckResult,
  type CheckRun,
  type MonitorOutcome,
  type MonitorSettings,
  type MonitorState,
} from "./monitor.ts";
import {
  installPlan,
  locationEnv,
  monitorPaths,
  removeCronLine,
  SYSTEMD_INSTALL_COMMANDS,
  SYSTEMD_UNINSTALL_COMMANDS,
  uninstallFiles,
  upsertCronLine,
  type InstallPlan,
  type MonitorLocations,
} from "./monitor-files.ts";
import { envValue, resolvePaths, type EnvSnapshot } from "./paths.ts";

export interface MonitorFlags {
  systemd?: boolean;
  cron?: boolean;
  termux?: boolean;
  dryRun?: boolean;
  /** Raw argv values. */
  notifyCommand?: string;
  ntfy?: string;
  warnWithin?: string;
}

/** How long `crontab` / `systemctl` may take (ms). */
const TOOL_TIMEOUT_MS = 30_000;

/** The scheduler's `$HOME` (systemd user units, crontab, `~/.shortcuts` live there) and jarvis's state dir. */
function locations(input: ContextInput): MonitorLocations & { paths: ReturnType<typeof resolvePaths> } {
  const paths = resolvePaths(input.processEnv, input.profileFlag);
  return { home: envValue(input.processEnv, "HOME") ?? os.homedir(), stateDir: paths.stateDir, paths };
}

function commandText(cmd: string[]): string {
  return cmd.join(" ");
}

/** Run a helper tool (`crontab`, `systemctl`); `error` says why it failed (`<tool> not found`, exit code + stderr). */
function runTool(cmd: string[], input?: string): { error?: string; missing?: boolean; stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { input, encoding: "utf8", timeout: TOOL_TIMEOUT_MS, stdio: ["pipe", "pipe", "pipe"] });
  const stdout = r.stdout ?? "";
  const stderr = (r.stderr ?? "").trim();
  if (r.error) {
    const missing = errnoCode(r.error) === "ENOENT";
    return { error: missing ? `${cmd[0]} not found` : `${commandText(cmd)} failed: ${r.error.message}`, missing, stdout, stderr, status: null };
  }
  if (r.status !== 0) {
    const how = r.status === null ? `was killed by ${r.signal}` : `exited with ${r.status}`;
    return { error: `${commandText(cmd)} ${how}${stderr ? `: ${stderr}` : ""}`, stdout, stderr, status: r.status };
  }
  return { stdout, stderr, status: 0 };
}

/** The user's crontab text ("" when there is none yet). */
function readCrontab(): { text: string } | { error: string } {
  const r = runTool(["crontab", "-l"]);
  if (!r.error) return { text: r.stdout };
  // `crontab -l` exits 1 with "no crontab for <user>" before the first install (Debian cron, cronie, busybox).
  if (r.status !== null && /no crontab/i.test(r.stderr)) return { text: "" };
  return { error: r.error };
}

function writeFile(f: { path: string; content: string; mode: number }): void {
  atomicWriteFile(f.path, f.content);
  fs.chmodSync(f.path, f.mode);
}

function modeText(mode: number): string {
  return `0${mode.toString(8)}`;
}

function printFile(f: { path: string; content: string; mode: number }): void {
  printLine(`Would write ${f.path} (mode ${modeText(f.mode)}):`);
  for (const line of f.content.replace(/\n$/, "").split("\n")) printLine(line);
  printLine();
}

function printDryRun(plan: InstallPlan): void {
  printLine(`Dry run of jarvis monitor install --${plan.method}: nothing is written or run.`);
  printLine();
  for (const d of plan.dirs) printLine(`Would create ${d.path} (mode ${modeText(d.mode)}) if missing`);
  printLine();
  for (const f of plan.files) printFile(f);
  if (plan.cronLine !== undefined) {
    printLine(`Would run: crontab -l`);
    printLine(`Would replace the crontab line tagged ${CRON_TAG} (or append it) with:`);
    printLine(plan.cronLine);
    printLine(`Would run: crontab - (with the updated crontab on stdin)`);
  }
  for (const c of plan.commands) printLine(`Would run: ${commandText(c)}`);
}

/**
 * `monitor install` (10 §1.1): validate, require the compiled binary, then write/replace the method's files, the
 * config.json and (cron) the tagged crontab line, or (systemd) enable the timer.
 * @returns exit code 0
 * @throws UsageError (64) for bad flags; JarvisError (1) `not_compiled`, `crontab_failed`, `systemctl_failed`
 */
export async function runMonitorInstall(flags: MonitorFlags, input: ContextInput): Promise<number> {
  const method = selectMethod(flags);
  const settings = settingsFromFlags(flags);
  if (!Bun.isStandaloneExecutable) throw new JarvisError("not_compiled", "monitor install must run from the compiled jarvis binary");
  const bin = fs.realpathSync(process.execPath);
  const loc = locations(input);
  const plan = installPlan(method, {
    loc,
    bin,
    env: locationEnv(loc.paths, loc.home),
    sh: termuxShell(input.processEnv),
    settings,
  });
  if (flags.dryRun) {
    printDryRun(plan);
    return 0;
  }
  for (const d of plan.dirs) ensurePrivateDir(d.path);
  for (const f of plan.files) {
    writeFile(f);
    printLine(`Wrote ${f.path}`);
  }
  if (plan.cronLine !== undefined) installCronLine(plan.cronLine);
  for (const cmd of plan.commands) {
    const r = runTool(cmd);
    if (r.error) {
      throw new JarvisError(
        "systemctl_failed",
        `${r.error}. The unit files were written; run by hand:\n${SYSTEMD_INSTALL_COMMANDS.map((c) => `  ${commandText(c)}`).join("\n")}`,
      );
    }
    printLine(`Ran: ${commandText(cmd)}`);
  }
  for (const h of plan.hints) printLine(h);
  return 0;
}

function installCronLine(line: string): void {
  const byHand = `Add this line to your crontab by hand (crontab -e):\n${line}`;
  const current = readCrontab();
  if ("error" in current) throw new JarvisError("crontab_failed", `${current.error}. ${byHand}`);
  const w = runTool(["crontab", "-"], upsertCronLine(current.text, line));
  if (w.error) throw new JarvisError("crontab_failed", `${w.error}. ${byHand}`);
  printLine(`Crontab line (tagged ${CRON_TAG}):`);
  printLine(line);
}

/**
 * `monitor uninstall` (10 §1.1): remove exactly what install created for the method — the two units (after
 * `systemctl --user disable --now`), the tagged crontab line, or the two widget scripts. config.json and state.json
 * stay.
 * @throws UsageError (64); JarvisError (1) `crontab_failed`, `systemctl_failed`
 */
export async function runMonitorUninstall(flags: MonitorFlags, input: ContextInput): Promise<number> {
  const method = selectMethod(flags);
  const loc = locations(input);
  if (method === "cron") return uninstallCron(Boolean(flags.dryRun));
  const files = uninstallFiles(method, loc).filter((f) => fs.existsSync(f));
  if (files.length === 0) {
    printLine(`Nothing to remove: the --${method} monitor is not installed.`);
    return 0;
  }
  const [disable, reload] = SYSTEMD_UNINSTALL_COMMANDS as [string[], string[]];
  if (flags.dryRun) {
    if (method === "systemd") printLine(`Would run: ${commandText(disable)}`);
    for (const f of files) printLine(`Would remove ${f}`);
    if (method === "systemd") printLine(`Would run: ${commandText(reload)}`);
    return 0;
  }
  if (method === "systemd") {
    const r = runTool(disable);
    // Without systemctl nothing can be enabled, so the files are all that is left; any other failure keeps them,
    // because removing the units first would leave an enabled timer behind that can no longer be disabled by name.
    if (r.error && !r.missing) {
      throw new JarvisError("systemctl_failed", `${r.error}. Nothing was removed; run "${commandText(disable)}" by hand, then re-run jarvis monitor uninstall --systemd.`);
    }
    if (r.error) log.warn(`${r.error}; removing the unit files only`);
    else printLine(`Ran: ${commandText(disable)}`);
  }
  for (const f of files) {
    fs.rmSync(f, { force: true });
    printLine(`Removed ${f}`);
  }
  if (method === "systemd") {
    const r = runTool(reload);
    if (r.error && !r.missing) throw new JarvisError("systemctl_failed", `${r.error}. Run "${commandText(reload)}" by hand.`);
    if (!r.error) printLine(`Ran: ${commandText(reload)}`);
  }
  return 0;
}

function uninstallCron(dryRun: boolean): number {
  const byHand = `Remove the line tagged ${CRON_TAG} by hand (crontab -e).`;
  const current = readCrontab();
  if ("error" in current) {
    // A dry run runs nothing, so it can still say what it would do.
    if (dryRun) {
      printLine(`Would run: crontab -l, then remove the line tagged ${CRON_TAG} and install the rest with crontab - (${current.error})`);
      return 0;
    }
    throw new JarvisError("crontab_failed", `${current.error}. ${byHand}`);
  }
  const { text, removed } = removeCronLine(current.text);
  if (removed === 0) {
    printLine(`Nothing to remove: no crontab line tagged ${CRON_TAG}.`);
    return 0;
  }
  const lines = current.text.split("\n").filter((l) => l.trimEnd().endsWith(CRON_TAG));
  if (dryRun) {
    printLine("Would remove the crontab line:");
    for (const l of lines) printLine(l);
    printLine("Would run: crontab - (with the updated crontab on stdin)");
    return 0;
  }
  const w = runTool(["crontab", "-"], text);
  if (w.error) throw new JarvisError("crontab_failed", `${w.error}. ${byHand}`);
  printLine("Removed the crontab line:");
  for (const l of lines) printLine(l);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// monitor run

/** The command that runs this same jarvis: the binary itself, or `bun <main.ts>` in a dev run. */
function selfCommand(): string[] {
  return Bun.isStandaloneExecutable ? [process.execPath] : [process.execPath, Bun.main];
}

/**
 * Run the status check as a child (10 §1.2 step 1): stdout captured, stderr passed through, env inherited. The
 * timeout covers exit and stdout together, so a grandchild holding the pipe cannot stall the monitor.
 */
export async function runCheck(cmd: string[], timeoutMs: number): Promise<CheckRun> {
  let proc: Bun.Subprocess<"ignore", "pipe", "inherit">;
  try {
    proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  } catch (e) {
    return { kind: "spawn_error", command: cmd[0]!, message: errnoCode(e) ?? (e instanceof Error ? e.message : String(e)) };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const done = Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const first = await Promise.race([done, timeout]);
  clearTimeout(timer);
  if (first === "timeout") {
    proc.kill("SIGKILL");
    return { kind: "timeout", timeoutMs };
  }
  const [stdout, code] = first;
  if (proc.signalCode) return { kind: "signal", signal: String(proc.signalCode), stdout };
  return { kind: "exited", exitCode: code, stdout };
}

/**
 * Run `--notify-command` with `<shell> -c` (10 §1.2): message on stdin and in `JARVIS_MONITOR_MESSAGE`, outcome
 * in `JARVIS_MONITOR_STATUS`; its stdout goes to our stderr so that our stdout stays one line.
 * @returns undefined on exit 0, else the failure text
 */
export async function runNotifyCommand(
  shell: string,
  command: string,
  message: string,
  outcome: MonitorOutcome,
  timeoutMs: number,
): Promise<string | undefined> {
  let proc: Bun.Subprocess;
  try {
    proc = Bun.spawn([shell, "-c", command], {
      stdin: new TextEncoder().encode(`${message}\n`),
      stdout: 2,
      stderr: "inherit",
      env: { ...process.env, JARVIS_MONITOR_MESSAGE: message, JARVIS_MONITOR_STATUS: outcome },
    });
  } catch (e) {
    return `could not run the notify command with ${shell}: ${errnoCode(e) ?? (e instanceof Error ? e.message : String(e))}`;
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  if (timedOut) return `notify command timed out after ${timeoutMs} ms`;
  if (proc.signalCode) return `notify command was killed by ${proc.signalCode}`;
  return code === 0 ? undefined : `notify command exited with ${code}`;
}

/** `POST <url>` with the message (10 §1.2); never names the URL in errors (a topic URL can be a credential). */
async function postNtfy(url: string, message: string, outcome: MonitorOutcome, timeoutMs: number): Promise<string | undefined> {
  const r = await postText(
    { url, headers: { Title: "jarvis auth", Priority: ntfyPriority(outcome), "Content-Type": "text/plain; charset=utf-8" }, body: message },
    timeoutMs,
  );
  if (!r.ok) return `ntfy: ${r.message}`;
  return r.status >= 200 && r.status < 300 ? undefined : `ntfy: HTTP ${r.status}`;
}

/** Send through every configured channel; notified when at least one delivered. */
async function notify(settings: MonitorSettings, result: CheckResult, env: EnvSnapshot): Promise<{ notified: boolean; notifyError?: string }> {
  const message = redact(notificationMessage(result, os.hostname()));
  const errors: string[] = [];
  let delivered = 0;
  if (settings.notifyCommand !== undefined) {
    const err = await runNotifyCommand(notifyShell(env), settings.notifyCommand, message, result.outcome, NOTIFY_COMMAND_TIMEOUT_MS);
    if (err) errors.push(err);
    else delivered++;
  }
  if (settings.ntfyUrl !== undefined) {
    const err = await postNtfy(settings.ntfyUrl, message, result.outcome, NTFY_TIMEOUT_MS);
    if (err) errors.push(err);
    else delivered++;
  }
  if (settings.notifyCommand === undefined && settings.ntfyUrl === undefined) {
    log.warn("no notification channel configured: pass --notify-command or --ntfy (or re-run jarvis monitor install with one)");
  }
  return { notified: delivered > 0, ...(errors.length ? { notifyError: errors.join("; ") } : {}) };
}

/**
 * `monitor run` (10 §1.2): check, decide, notify at most once an hour, record state, print one line or `--json`.
 * @returns 0 ok, 2 expiring, 1 failed / check_failed
 * @throws UsageError (64) for bad flags; JarvisError (1) `monitor_config_invalid`, `lock_timeout`
 */
export async function runMonitorRun(
  flags: MonitorFlags & { json?: boolean; logLevel?: string },
  input: ContextInput,
): Promise<number> {
  // Taken first: Bun reads the executable path lazily, and it must name the binary that was started.
  const self = selfCommand();
  const flagSettings = settingsFromFlags(flags);
  const loc = locations(input);
  const files = monitorPaths(loc);
  const settings = mergeSettings(parseMonitorConfig(readIfExists(files.config), files.config), flagSettings);

  const cmd = [
    ...self,
    ...(input.profileFlag !== undefined ? ["--profile", input.profileFlag] : []),
    ...(flags.logLevel !== undefined ? ["--log-level", flags.logLevel] : []),
    "models", "status", "--check", "--json",
    ...(settings.warnWithin !== undefined ? ["--warn-within", settings.warnWithin] : []),
  ];
  const result = classifyCheck(await runCheck(cmd, CHECK_TIMEOUT_MS));

  const { notified, notifyError } = await withFileLock(
    files.state,
    async () => {
      const now = Date.now();
      const state = parseMonitorState(readIfExists(files.state));
      const sent = shouldNotify(result.outcome, state.lastNotifiedAt, now)
        ? await notify(settings, result, input.processEnv)
        : { notified: false };
      const next: MonitorState = { lastRunAt: now, lastOutcome: result.outcome, lastNotifiedAt: sent.notified ? now : state.lastNotifiedAt };
      atomicWriteFile(files.state, serializeJson(next));
      return sent;
    },
    { label: "monitor state" },
  );

  if (notifyError) log.warn(`notification failed: ${notifyError}`);
  if (flags.json) printJson(runDocument(result, notified, notifyError));
  else printLine(outcomeLine(result));
  return outcomeExitCode(result.outcome);
}
