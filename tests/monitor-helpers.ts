/**
 * Shared pieces of the `jarvis monitor` end-to-end tests: fake `crontab` / `systemctl` executables that record every
 * call, a scratch dir outside the sandbox HOME, and file mode helpers.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const scratchDirs: string[] = [];

/** A temp dir outside every sandbox HOME (fake tools, their logs, the fake crontab). */
export function scratch(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-monitor-"));
  scratchDirs.push(d);
  return d;
}

export function cleanupScratch(): void {
  for (const d of scratchDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface FakeTools {
  /** Directory to put first on PATH. */
  bin: string;
  /** A directory with no tools at all (PATH for "crontab/systemctl missing"). */
  emptyBin: string;
  /** Where the fake crontab keeps the user's crontab (absent = "no crontab for <user>"). */
  crontabFile: string;
  /** Every call, one line each: `crontab -l`, `systemctl --user daemon-reload`, … */
  calls(): string[];
  /** Make the fake systemctl exit with `code` from now on. */
  systemctlExit(code: number): void;
  /** PATH value with the fakes first. */
  path: string;
}

/** Write fake `crontab` (`-l` / `-`, like Debian cron) and `systemctl` that log their argv. */
export function fakeTools(): FakeTools {
  const dir = scratch();
  const bin = path.join(dir, "bin");
  const emptyBin = path.join(dir, "empty");
  fs.mkdirSync(bin);
  fs.mkdirSync(emptyBin);
  const log = path.join(dir, "calls.log");
  const crontabFile = path.join(dir, "crontab");
  const exitFile = path.join(dir, "systemctl-exit");
  const write = (name: string, body: string) => {
    const p = path.join(bin, name);
    fs.writeFileSync(p, `#!/bin/sh\n${body}\n`);
    fs.chmodSync(p, 0o755);
  };
  write(
    "crontab",
    [
      `echo "crontab $*" >> ${shq(log)}`,
      'case "$1" in',
      `  -l) if [ -f ${shq(crontabFile)} ]; then exec cat ${shq(crontabFile)}; fi; echo "no crontab for tester" >&2; exit 1 ;;`,
      `  -) cat > ${shq(crontabFile)} ;;`,
      "  *) exit 2 ;;",
      "esac",
    ].join("\n"),
  );
  write("systemctl", [`echo "systemctl $*" >> ${shq(log)}`, `[ -f ${shq(exitFile)} ] && exit "$(cat ${shq(exitFile)})"`, "exit 0"].join("\n"));
  return {
    bin,
    emptyBin,
    crontabFile,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n").filter(Boolean) : []),
    systemctlExit: (code) => fs.writeFileSync(exitFile, String(code)),
    path: `${bin}:/usr/bin:/bin`,
  };
}

/** Permission bits of a path. */
export function modeOf(p: string): number {
  return fs.statSync(p).mode & 0o777;
}
