// `jarvis monitor`, the pure rules (spec 10 §1): flag choice, settings, location variables, generated file text,
// crontab editing, check classification (fail closed), the one-per-hour throttle, message and output formats; plus
// the two process helpers of lib/monitor-cmd.ts with short timeouts.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JarvisError, UsageError } from "../lib/errors.ts";
import {
  classifyCheck,
  mergeSettings,
  notificationMessage,
  notifyShell,
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
  type CheckRun,
} from "../lib/monitor.ts";
import {
  cronLine,
  installPlan,
  locationEnv,
  removeCronLine,
  systemdService,
  termuxTaskScript,
  upsertCronLine,
} from "../lib/monitor-files.ts";
import { runCheck, runNotifyCommand } from "../lib/monitor-cmd.ts";
import { isTermux, resolvePaths } from "../lib/paths.ts";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-monitor-unit-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const TAG = "# jarvis-auth-monitor";

describe("selectMethod: exactly one of --systemd, --cron, --termux", () => {
  const rows: Array<[flags: Record<string, boolean>, expected: string | null]> = [
    [{ systemd: true }, "systemd"],
    [{ cron: true }, "cron"],
    [{ termux: true }, "termux"],
    [{}, null],
    [{ systemd: true, cron: true }, null],
    [{ systemd: true, cron: true, termux: true }, null],
    [{ systemd: false, cron: true }, "cron"],
  ];
  test.each(rows)("%j → %s", (flags, expected) => {
    if (expected) expect(selectMethod(flags)).toBe(expected as "cron");
    else expect(() => selectMethod(flags)).toThrow(UsageError);
  });
});

describe("settingsFromFlags", () => {
  test("raw values are kept as given", () => {
    expect(settingsFromFlags({ notifyCommand: "cat >> x", ntfy: "https://ntfy.sh/topic", warnWithin: "48" })).toEqual({
      notifyCommand: "cat >> x",
      ntfyUrl: "https://ntfy.sh/topic",
      warnWithin: "48",
    });
    expect(settingsFromFlags({})).toEqual({});
  });
  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ["empty notify command", { notifyCommand: "  " }, /--notify-command must not be empty/],
    ["ntfy without scheme", { ntfy: "ntfy.sh/topic" }, /--ntfy must be an http\(s\) URL/],
    ["ntfy other scheme", { ntfy: "ftp://x/y" }, /--ntfy must be an http\(s\) URL/],
    ["bad duration", { warnWithin: "30x" }, /invalid duration: 30x/],
    ["zero duration", { warnWithin: "0" }, /invalid duration: 0/],
  ];
  test.each(bad)("%s → usage error", (_n, flags, msg) => {
    expect(() => settingsFromFlags(flags)).toThrow(msg);
    expect(() => settingsFromFlags(flags)).toThrow(UsageError);
  });
});

describe("config.json and state.json parsing", () => {
  test("missing config = no settings; flags override field by field", () => {
    expect(parseMonitorConfig(null, "c.json")).toEqual({});
    const cfg = parseMonitorConfig(JSON.stringify({ notifyCommand: "a", warnWithin: "3h", extra: 1 }), "c.json");
    expect(cfg).toEqual({ notifyCommand: "a", warnWithin: "3h" });
    expect(mergeSettings(cfg, { warnWithin: "1h", ntfyUrl: "https://x/y" })).toEqual({ notifyCommand: "a", warnWithin: "1h", ntfyUrl: "https://x/y" });
  });
  const bad: Array<[string, string]> = [
    ["not JSON", "{"],
    ["an array", "[]"],
    ["a number field", JSON.stringify({ notifyCommand: 5 })],
    ["an empty field", JSON.stringify({ ntfyUrl: "" })],
    ["a bad URL", JSON.stringify({ ntfyUrl: "nope" })],
    ["a bad duration", JSON.stringify({ warnWithin: "1 h" })],
  ];
  test.each(bad)("config with %s → monitor_config_invalid naming the file", (_n, text) => {
    try {
      parseMonitorConfig(text, "/s/monitor/config.json");
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(JarvisError);
      expect((e as JarvisError).code).toBe("monitor_config_invalid");
      expect((e as JarvisError).exitCode).toBe(1);
      expect((e as JarvisError).message).toContain("/s/monitor/config.json");
    }
  });
  test("state: valid fields kept, anything unreadable counts as never notified", () => {
    expect(parseMonitorState(JSON.stringify({ lastRunAt: 5, lastOutcome: "failed", lastNotifiedAt: 4 }))).toEqual({ lastRunAt: 5, lastOutcome: "failed", lastNotifiedAt: 4 });
    const empty = { lastRunAt: null, lastOutcome: null, lastNotifiedAt: null };
    for (const t of [null, "", "{", "null", "[]", JSON.stringify({ lastNotifiedAt: "yesterday", lastOutcome: "bad" })]) {
      expect(parseMonitorState(t)).toEqual(empty);
    }
  });
});

describe("locationEnv: only non-default locations land in generated files", () => {
  const home = "/home/u";
  const rows: Array<[name: string, env: Record<string, string>, profile: string | undefined, expected: Array<[string, string]>]> = [
    ["defaults", { HOME: home }, undefined, []],
    ["--profile", { HOME: home }, "ci", [["JARVIS_PROFILE", "ci"]]],
    ["JARVIS_PROFILE=default is the default", { HOME: home, JARVIS_PROFILE: "default" }, undefined, []],
    ["state dir", { HOME: home, JARVIS_STATE_DIR: "/srv/j" }, undefined, [["JARVIS_STATE_DIR", "/srv/j"]]],
    ["state dir equal to the default", { HOME: home, JARVIS_STATE_DIR: "/home/u/.jarvis" }, undefined, []],
    ["config path", { HOME: home, JARVIS_CONFIG_PATH: "/etc/j.json" }, undefined, [["JARVIS_CONFIG_PATH", "/etc/j.json"]]],
    ["JARVIS_HOME moves the state dir", { HOME: home, JARVIS_HOME: "/data" }, undefined, [["JARVIS_STATE_DIR", "/data/.jarvis"]]],
    [
      "all three",
      { HOME: home, JARVIS_STATE_DIR: "~/s", JARVIS_CONFIG_PATH: "/c.json" },
      "w",
      [["JARVIS_STATE_DIR", "/home/u/s"], ["JARVIS_CONFIG_PATH", "/c.json"], ["JARVIS_PROFILE", "w"]],
    ],
  ];
  test.each(rows)("%s", (_n, env, profile, expected) => {
    expect(locationEnv(resolvePaths(env, profile), home)).toEqual(expected);
  });
});

describe("generated text", () => {
  test("systemd service: env lines before ExecStart; unit-file escaping of %, $, spaces", () => {
    const s = systemdService("/opt/my apps/jar%vis$1", [["JARVIS_STATE_DIR", "/srv/a b"]], "/srv/a b/.env");
    expect(s.split("\n").slice(-4)).toEqual([
      "Type=oneshot",
      'Environment="JARVIS_STATE_DIR=/srv/a b"',
      'ExecStart="/opt/my apps/jar%%vis$$1" monitor run',
      "",
    ]);
    expect(s).toContain("# jarvis reads credentials from /srv/a b/.env and its auth store when it runs.");
  });

  test("cron line: shell-quoted, env prefix, % escaped for cron, tag last", () => {
    expect(cronLine("/home/u/.local/bin/jarvis", "/home/u/.jarvis/monitor/monitor.log", [])).toBe(
      "*/30 * * * * '/home/u/.local/bin/jarvis' monitor run >> '/home/u/.jarvis/monitor/monitor.log' 2>&1 # jarvis-auth-monitor",
    );
    expect(cronLine("/b/it's", "/s%/m.log", [["JARVIS_STATE_DIR", "/s%"]])).toBe(
      `*/30 * * * * JARVIS_STATE_DIR='/s\\%' '/b/it'\\''s' monitor run >> '/s\\%/m.log' 2>&1 ${TAG}`,
    );
  });

  test("termux task script exports the location variables before exec", () => {
    expect(termuxTaskScript("/p/bin/sh", "/h/bin/jarvis", [["JARVIS_PROFILE", "ci"]])).toBe(
      "#!/p/bin/sh\n# Generated by `jarvis monitor install --termux`. Contains no secrets.\nexport JARVIS_PROFILE='ci'\nexec '/h/bin/jarvis' monitor run\n",
    );
  });

  test("termux detection and shells", () => {
    expect(isTermux({ TERMUX_VERSION: "0.118" })).toBe(true);
    expect(isTermux({ PREFIX: "/data/data/com.termux/files/usr" })).toBe(true);
    expect(isTermux({ PREFIX: "/usr/local" })).toBe(false);
    expect(isTermux({ TERMUX_VERSION: " " })).toBe(false);
    expect(notifyShell({})).toBe("/bin/sh");
    expect(notifyShell({ TERMUX_VERSION: "1" })).toBe("/data/data/com.termux/files/usr/bin/sh");
    expect(notifyShell({ PREFIX: "/data/data/com.termux/files/usr" })).toBe("/data/data/com.termux/files/usr/bin/sh");
    expect(termuxShell({})).toBe("/data/data/com.termux/files/usr/bin/sh");
    expect(termuxShell({ PREFIX: "/x" })).toBe("/x/bin/sh");
  });

  test("install plans: paths, modes and commands per method", () => {
    const input = { loc: { home: "/h", stateDir: "/h/.jarvis" }, bin: "/b/jarvis", env: [], sh: "/p/sh", settings: { ntfyUrl: "https://n/t" } };
    const sd = installPlan("systemd", input);
    expect(sd.files.map((f) => [f.path, f.mode])).toEqual([
      ["/h/.config/systemd/user/jarvis-auth-monitor.service", 0o644],
      ["/h/.config/systemd/user/jarvis-auth-monitor.timer", 0o644],
      ["/h/.jarvis/monitor/config.json", 0o600],
    ]);
    expect(sd.commands).toEqual([["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", "jarvis-auth-monitor.timer"]]);
    expect(sd.files[2]!.content).toBe('{\n  "ntfyUrl": "https://n/t"\n}\n');
    const tx = installPlan("termux", input);
    expect(tx.dirs).toEqual([{ path: "/h/.shortcuts", mode: 0o700 }, { path: "/h/.shortcuts/tasks", mode: 0o700 }, { path: "/h/.jarvis/monitor", mode: 0o700 }]);
    expect(tx.files.map((f) => [f.path, f.mode])).toEqual([
      ["/h/.shortcuts/jarvis-auth-check", 0o700],
      ["/h/.shortcuts/tasks/jarvis-auth-monitor", 0o700],
      ["/h/.jarvis/monitor/config.json", 0o600],
    ]);
    const cr = installPlan("cron", input);
    expect(cr.cronLine).toBe(`*/30 * * * * '/b/jarvis' monitor run >> '/h/.jarvis/monitor/monitor.log' 2>&1 ${TAG}`);
    for (const plan of [sd, tx, cr]) for (const f of plan.files.slice(0, -1)) expect(f.content).not.toContain("https://n/t");
  });
});

describe("crontab editing touches only the tagged line", () => {
  const line = `*/30 * * * * '/b/jarvis' monitor run ${TAG}`;
  const rows: Array<[name: string, before: string, after: string]> = [
    ["empty crontab", "", `${line}\n`],
    ["appends after other lines", "MAILTO=me\n0 * * * * backup\n", `MAILTO=me\n0 * * * * backup\n${line}\n`],
    ["adds the missing final newline", "0 * * * * backup", `0 * * * * backup\n${line}\n`],
    ["replaces in place", `A\n* * * * * old ${TAG}\nB\n`, `A\n${line}\nB\n`],
    ["collapses duplicates into one", `* * * * * old1 ${TAG}\nA\n* * * * * old2 ${TAG}  \n`, `${line}\nA\n`],
    ["a mention of the tag elsewhere is not ours", `# see ${TAG} docs\n`.replace(`${TAG} docs`, "jarvis-auth-monitor docs"), `# see jarvis-auth-monitor docs\n${line}\n`],
  ];
  test.each(rows)("upsert: %s", (_n, before, after) => {
    expect(upsertCronLine(before, line)).toBe(after);
    expect(upsertCronLine(upsertCronLine(before, line), line)).toBe(after);
  });
  test("remove: only tagged lines; count reported", () => {
    expect(removeCronLine(`A\n${line}\nB\n`)).toEqual({ text: "A\nB\n", removed: 1 });
    expect(removeCronLine(`${line}\n`)).toEqual({ text: "", removed: 1 });
    expect(removeCronLine("A\n")).toEqual({ text: "A\n", removed: 0 });
    expect(removeCronLine("")).toEqual({ text: "", removed: 0 });
  });
});

const report = (exitCode: number, failures: unknown[] = [], warnings: unknown[] = []) =>
  JSON.stringify({ configPath: "/x", check: { exitCode, warnWithinMs: 86400000, failures, warnings } });

describe("classifyCheck: exit codes and the JSON decide; anything unexpected fails closed", () => {
  const rows: Array<[name: string, run: CheckRun, outcome: string, code: number | null, items: string[], reason: RegExp | null]> = [
    ["healthy", { kind: "exited", exitCode: 0, stdout: report(0) }, "ok", 0, [], null],
    [
      "expiring: warnings as <profileId> <code>",
      { kind: "exited", exitCode: 2, stdout: report(2, [], [{ code: "expiring", provider: "anthropic", profileId: "anthropic:t" }, { code: "relogin_required", provider: "openai-codex", profileId: "openai-codex:me" }]) },
      "expiring", 2, ["anthropic:t expiring", "openai-codex:me relogin_required"], null,
    ],
    [
      "failed: failures, provider when no profile",
      { kind: "exited", exitCode: 1, stdout: report(1, [{ code: "expired", provider: "anthropic", profileId: "anthropic:t" }, { code: "no_credentials", provider: "openai" }], [{ code: "expiring", provider: "x", profileId: "x:y" }]) },
      "failed", 1, ["anthropic:t expired", "openai no_credentials"], null,
    ],
    ["error document → its message", { kind: "exited", exitCode: 1, stdout: JSON.stringify({ ok: false, error: { code: "config_invalid", message: "jarvis.json line 2: bad" } }) }, "check_failed", 1, [], /^jarvis\.json line 2: bad$/],
    ["error document with exit 0", { kind: "exited", exitCode: 0, stdout: JSON.stringify({ ok: false, error: { code: "x", message: "m" } }) }, "check_failed", 0, [], /did not print a status report/],
    ["missing binary (127 from a shell)", { kind: "exited", exitCode: 127, stdout: "" }, "check_failed", 127, [], /exited with 127/],
    ["usage error 64", { kind: "exited", exitCode: 64, stdout: "" }, "check_failed", 64, [], /exited with 64/],
    ["crash exit 3", { kind: "exited", exitCode: 3, stdout: report(0) }, "check_failed", 3, [], /exited with 3/],
    ["exit 0 without JSON", { kind: "exited", exitCode: 0, stdout: "ok\n" }, "check_failed", 0, [], /did not print a status report/],
    ["exit 0, report without check", { kind: "exited", exitCode: 0, stdout: JSON.stringify({ auth: {} }) }, "check_failed", 0, [], /did not print a status report/],
    ["exit 2 with truncated JSON", { kind: "exited", exitCode: 2, stdout: report(2).slice(0, 20) }, "check_failed", 2, [], /did not print/],
    ["malformed items", { kind: "exited", exitCode: 1, stdout: report(1, [{ code: 5 }]) }, "check_failed", 1, [], /did not print/],
    ["exit code disagrees with the report", { kind: "exited", exitCode: 0, stdout: report(1, [{ code: "expired", provider: "a" }]) }, "check_failed", 0, [], /exited with 0 but its report says 1/],
    ["spawn error", { kind: "spawn_error", command: "/b/jarvis", message: "ENOENT" }, "check_failed", null, [], /^could not run \/b\/jarvis: ENOENT$/],
    ["timeout", { kind: "timeout", timeoutMs: 120000 }, "check_failed", null, [], /within 120000 ms/],
    ["signal", { kind: "signal", signal: "SIGSEGV", stdout: "" }, "check_failed", null, [], /killed by SIGSEGV/],
  ];
  test.each(rows)("%s", (_n, run, outcome, code, items, reason) => {
    const r = classifyCheck(run);
    expect(r.outcome).toBe(outcome as "ok");
    expect(r.checkExitCode).toBe(code);
    expect(r.items).toEqual(items);
    if (reason) expect(r.reason).toMatch(reason);
    else expect(r.reason).toBeUndefined();
  });
});

describe("shouldNotify: not ok, and at least 3 600 000 ms since the last notification", () => {
  const now = 1_800_000_000_000;
  const rows: Array<[outcome: string, last: number | null, expected: boolean]> = [
    ["ok", null, false],
    ["ok", now - 10 * 3_600_000, false],
    ["expiring", null, true],
    ["failed", null, true],
    ["check_failed", null, true],
    ["failed", now - 3_600_000, true],
    ["failed", now - 3_599_999, false],
    ["failed", now, false],
    ["expiring", now - 7_200_000, true],
    ["failed", now + 60_000, true],
  ];
  test.each(rows)("%s, last %p", (outcome, last, expected) => {
    expect(shouldNotify(outcome as "ok", last, now)).toBe(expected);
  });
});

describe("message, stdout line, exit code, JSON document", () => {
  const rows: Array<[outcome: string, items: string[], reason: string | undefined, message: string, line: string, exit: number, prio: string]> = [
    ["ok", [], undefined, "jarvis auth on h: OK — - — run: jarvis models status", "ok", 0, "default"],
    ["expiring", ["anthropic:t expiring"], undefined, "jarvis auth on h: EXPIRING — anthropic:t expiring — run: jarvis models status", "expiring: anthropic:t expiring", 2, "default"],
    ["failed", ["a:1 expired", "openai no_credentials"], undefined, "jarvis auth on h: EXPIRED/MISSING — a:1 expired, openai no_credentials — run: jarvis models status", "failed: a:1 expired, openai no_credentials", 1, "high"],
    ["check_failed", [], "could not run /b: ENOENT", "jarvis auth on h: CHECK FAILED — could not run /b: ENOENT — run: jarvis models status", "check failed: could not run /b: ENOENT", 1, "high"],
  ];
  test.each(rows)("%s", (outcome, items, reason, message, line, exit, prio) => {
    const r = { outcome: outcome as "ok", checkExitCode: 0, items, ...(reason ? { reason } : {}) };
    expect(notificationMessage(r, "h")).toBe(message);
    expect(outcomeLine(r)).toBe(line);
    expect(outcomeExitCode(r.outcome)).toBe(exit);
    expect(ntfyPriority(r.outcome)).toBe(prio as "high");
  });
  test("document keys: reason only for check_failed, notifyError only after a failure", () => {
    expect(Object.keys(runDocument({ outcome: "ok", checkExitCode: 0, items: [] }, false))).toEqual(["outcome", "exitCode", "checkExitCode", "items", "notified"]);
    expect(runDocument({ outcome: "check_failed", checkExitCode: null, items: [], reason: "r" }, false, "e")).toEqual({
      outcome: "check_failed", exitCode: 1, checkExitCode: null, items: [], reason: "r", notified: false, notifyError: "e",
    });
  });
});

function script(name: string, body: string): string {
  const p = path.join(scratch, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`);
  fs.chmodSync(p, 0o755);
  return p;
}

describe("runCheck (the child process edge)", () => {
  test("captures stdout and the exit code", async () => {
    expect(await runCheck([script("c1", "echo '{\"a\":1}'; exit 2")], 5000)).toEqual({ kind: "exited", exitCode: 2, stdout: '{"a":1}\n' });
  });
  test("a missing binary is a spawn error, not an exit code", async () => {
    const r = await runCheck([path.join(scratch, "nope")], 5000);
    expect(r).toEqual({ kind: "spawn_error", command: path.join(scratch, "nope"), message: "ENOENT" });
  });
  test("a hung check is killed at the timeout, even when a grandchild holds stdout", async () => {
    const started = Date.now();
    const r = await runCheck([script("c2", "sleep 5 & sleep 5")], 300);
    expect(r).toEqual({ kind: "timeout", timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3000);
  });
  test("death by signal", async () => {
    expect(await runCheck([script("c3", "kill -SEGV $$")], 5000)).toMatchObject({ kind: "signal", signal: "SIGSEGV" });
  });
});

describe("runNotifyCommand", () => {
  test("message on stdin and in JARVIS_MONITOR_MESSAGE, outcome in JARVIS_MONITOR_STATUS", async () => {
    const out = path.join(scratch, "notify.out");
    const err = await runNotifyCommand("/bin/sh", `cat > '${out}'; printf '%s|%s' "$JARVIS_MONITOR_MESSAGE" "$JARVIS_MONITOR_STATUS" >> '${out}'`, "hello — world", "expiring", 5000);
    expect(err).toBeUndefined();
    expect(fs.readFileSync(out, "utf8")).toBe("hello — world\nhello — world|expiring");
  });
  test("non-zero exit, timeout and a missing shell are failures", async () => {
    expect(await runNotifyCommand("/bin/sh", "exit 3", "m", "failed", 5000)).toBe("notify command exited with 3");
    expect(await runNotifyCommand("/bin/sh", "sleep 5", "m", "failed", 200)).toBe("notify command timed out after 200 ms");
    expect(await runNotifyCommand(path.join(scratch, "no-sh"), "true", "m", "failed", 5000)).toMatch(/^could not run the notify command with .*no-sh: ENOENT$/);
  });
});
