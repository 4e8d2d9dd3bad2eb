import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JarvisError } from "../lib/errors.ts";
import {
  DEFAULT_LOCK_TIMING,
  isLockStale,
  lockTimingFromEnv,
  parseLockContent,
  withFileLock,
  type LockInfo,
  type LockTiming,
} from "../lib/lock.ts";

const LOCK_TS = path.resolve(import.meta.dir, "../lib/lock.ts");
const FAST: LockTiming = { staleMs: 5_000, waitMs: 300 };
const STORE = { label: "auth store", timing: FAST };

let root: string;
let savedUmask: number;
let n = 0;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-lock-"));
  savedUmask = process.umask(0o022);
});
afterAll(() => {
  process.umask(savedUmask);
  fs.rmSync(root, { recursive: true, force: true });
});

/** A fresh target path in its own directory. */
function freshTarget(): string {
  const dir = path.join(root, `case-${n++}`);
  fs.mkdirSync(dir);
  return path.join(dir, "auth-profiles.json");
}

/** The pid of a process that has exited and been reaped (kill(pid, 0) → ESRCH). */
async function deadPid(): Promise<number> {
  const child = Bun.spawn([process.execPath, "-e", ""], { stdout: "ignore", stderr: "ignore" });
  await child.exited;
  return child.pid;
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

async function lockError(p: Promise<unknown>): Promise<JarvisError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof JarvisError) return e;
    throw e;
  }
  throw new Error("expected a JarvisError");
}

describe("lockTimingFromEnv (03 §4 test hooks)", () => {
  const cases: [string, Record<string, string | undefined>, LockTiming][] = [
    ["unset", {}, { staleMs: 30_000, waitMs: 10_000 }],
    ["both set", { JARVIS_LOCK_STALE_MS: "500", JARVIS_LOCK_WAIT_MS: "200" }, { staleMs: 500, waitMs: 200 }],
    ["surrounding whitespace", { JARVIS_LOCK_STALE_MS: " 750 " }, { staleMs: 750, waitMs: 10_000 }],
    ["blank", { JARVIS_LOCK_STALE_MS: "  ", JARVIS_LOCK_WAIT_MS: "" }, DEFAULT_LOCK_TIMING],
    ["zero", { JARVIS_LOCK_STALE_MS: "0", JARVIS_LOCK_WAIT_MS: "0" }, DEFAULT_LOCK_TIMING],
    ["negative", { JARVIS_LOCK_STALE_MS: "-5", JARVIS_LOCK_WAIT_MS: "-1" }, DEFAULT_LOCK_TIMING],
    ["non-numeric", { JARVIS_LOCK_STALE_MS: "abc", JARVIS_LOCK_WAIT_MS: "10s" }, DEFAULT_LOCK_TIMING],
    ["fraction / exponent", { JARVIS_LOCK_STALE_MS: "1.5", JARVIS_LOCK_WAIT_MS: "1e3" }, DEFAULT_LOCK_TIMING],
    ["beyond safe integer", { JARVIS_LOCK_STALE_MS: "99999999999999999999" }, DEFAULT_LOCK_TIMING],
  ];
  test.each(cases)("%s", (_name, env, expected) => {
    expect(lockTimingFromEnv(env)).toEqual(expected);
  });
});

describe("parseLockContent", () => {
  const iso = "2026-01-02T03:04:05.000Z";
  const cases: [string, string, { pid?: number; createdAt?: number }][] = [
    ["epoch ms", '{"pid":42,"createdAt":1700000000000}\n', { pid: 42, createdAt: 1_700_000_000_000 }],
    ["ISO createdAt", `{"pid": 42, "createdAt": "${iso}"}`, { pid: 42, createdAt: Date.parse(iso) }],
    ["garbage", "not json", {}],
    ["empty", "", {}],
    ["array", "[1,2]", {}],
    ["pid 0 (process group)", '{"pid":0,"createdAt":1}', {}],
    ["negative pid", '{"pid":-1,"createdAt":1}', {}],
    ["pid as string", '{"pid":"42","createdAt":1}', {}],
    ["createdAt missing", '{"pid":42}', {}],
    ["createdAt not a date", '{"pid":42,"createdAt":"yesterday"}', {}],
    ["createdAt outside Date range", '{"pid":42,"createdAt":1e20}', {}],
  ];
  test.each(cases)("%s", (_name, text, expected) => {
    expect(parseLockContent(text)).toEqual(expected);
  });
});

describe("isLockStale (pure rule, 03 §4)", () => {
  const now = 1_000_000;
  const alive = (pid: number) => pid === 1;
  const cases: [string, LockInfo, boolean][] = [
    ["live pid, fresh", { pid: 1, createdAt: now - 100, mtimeMs: now }, false],
    ["live pid, exactly staleMs old", { pid: 1, createdAt: now - 30_000, mtimeMs: now }, false],
    ["live pid, older than staleMs", { pid: 1, createdAt: now - 30_001, mtimeMs: now }, true],
    ["dead pid, fresh", { pid: 2, createdAt: now, mtimeMs: now }, true],
    ["unreadable, fresh mtime", { mtimeMs: now - 100 }, false],
    ["unreadable, old mtime", { mtimeMs: now - 30_001 }, true],
    ["live pid, createdAt in the future", { pid: 1, createdAt: now + 60_000, mtimeMs: now }, false],
  ];
  test.each(cases)("%s", (_name, info, expected) => {
    expect(isLockStale(info, now, 30_000, alive)).toBe(expected);
  });
});

describe("withFileLock stale detection on real lock files", () => {
  type Case = [name: string, acquired: boolean, content: (dead: number) => string, mtimeAgoMs: number];
  const old = () => Date.now() - 60_000;
  const cases: Case[] = [
    ["dead pid, fresh createdAt", true, (dead) => JSON.stringify({ pid: dead, createdAt: Date.now() }), 0],
    ["live pid, old createdAt", true, () => JSON.stringify({ pid: process.pid, createdAt: old() }), 0],
    ["live pid, old ISO createdAt", true, () => JSON.stringify({ pid: process.pid, createdAt: new Date(old()) }), 0],
    ["live pid, fresh ISO createdAt", false, () => JSON.stringify({ pid: process.pid, createdAt: new Date() }), 0],
    ["live pid, fresh createdAt", false, () => JSON.stringify({ pid: process.pid, createdAt: Date.now() }), 0],
    ["garbage, old mtime", true, () => "garbage", 60_000],
    ["garbage, fresh mtime", false, () => "garbage", 0],
    ["empty (holder between open and write)", false, () => "", 0],
    ["pid 0 never probes the process group", false, () => JSON.stringify({ pid: 0, createdAt: Date.now() }), 0],
  ];
  test.each(cases)("%s → acquired: %p", async (_name, acquired, content, mtimeAgoMs) => {
    const target = freshTarget();
    const lockPath = `${target}.lock`;
    fs.writeFileSync(lockPath, content(await deadPid()));
    const t = (Date.now() - mtimeAgoMs) / 1000;
    fs.utimesSync(lockPath, t, t);

    const run = withFileLock(target, async () => fs.readFileSync(lockPath, "utf8"), STORE);
    if (acquired) {
      expect(JSON.parse(await run)).toMatchObject({ pid: process.pid });
      expect(fs.existsSync(lockPath)).toBe(false);
    } else {
      expect((await lockError(run)).code).toBe("lock_timeout");
      expect(fs.existsSync(lockPath)).toBe(true);
    }
  });
});

describe("withFileLock", () => {
  test("lock file: exact content, mode 0600, parent dirs 0700 under umask 022; removed afterwards", async () => {
    const target = path.join(root, `case-${n++}`, "agents", "main", "agent", "auth-profiles.json");
    const before = Date.now();
    const seen = await withFileLock(
      target,
      async (handle) => ({ handle, text: fs.readFileSync(`${target}.lock`, "utf8"), mode: mode(`${target}.lock`) }),
      STORE,
    );
    expect(seen.mode).toBe(0o600);
    expect(seen.text).toBe(`{"pid":${process.pid},"createdAt":${seen.handle.createdAt}}\n`);
    expect(seen.handle.createdAt).toBeGreaterThanOrEqual(before);
    expect(seen.handle.lockPath).toBe(`${target}.lock`);
    for (let d = path.dirname(target); d !== root; d = path.dirname(d)) expect(mode(d)).toBe(0o700);
    expect(fs.existsSync(`${target}.lock`)).toBe(false);
  });

  test("existing parent dir keeps its mode", async () => {
    const dir = path.join(root, `case-${n++}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    await withFileLock(path.join(dir, "jarvis.json"), async () => {}, { label: "jarvis.json", timing: FAST });
    expect(mode(dir)).toBe(0o755);
  });

  test("timeout names label, pid, ISO start and lock path; target untouched", async () => {
    const target = freshTarget();
    fs.writeFileSync(target, "{}\n");
    const lockPath = `${target}.lock`;
    const createdAt = Date.now();
    fs.writeFileSync(lockPath, `${JSON.stringify({ pid: process.pid, createdAt })}\n`);
    const started = Date.now();
    const err = await lockError(withFileLock(target, async () => fs.writeFileSync(target, "x"), STORE));
    const elapsed = Date.now() - started;
    expect(err.code).toBe("lock_timeout");
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(
      `auth store is locked by pid ${process.pid} since ${new Date(createdAt).toISOString().replace(/\.\d{3}Z$/, "Z")} (${lockPath}); ` +
        `another jarvis is writing. Retry, or delete the lock file if pid ${process.pid} is not running.`,
    );
    expect(elapsed).toBeGreaterThanOrEqual(FAST.waitMs - 5);
    expect(elapsed).toBeLessThan(FAST.waitMs + 1_000);
    expect(fs.readFileSync(target, "utf8")).toBe("{}\n");
    expect(fs.readFileSync(lockPath, "utf8")).toBe(`${JSON.stringify({ pid: process.pid, createdAt })}\n`);
  });

  test("lock is released when fn throws, and fn's error propagates", async () => {
    const target = freshTarget();
    const boom = new Error("boom");
    const failing = async () => {
      throw boom;
    };
    await expect(withFileLock(target, failing, STORE)).rejects.toBe(boom);
    expect(fs.existsSync(`${target}.lock`)).toBe(false);
    expect(await withFileLock(target, async () => "again", STORE)).toBe("again");
  });

  test("release removes only our own lock", async () => {
    const target = freshTarget();
    const foreign = `${JSON.stringify({ pid: 1, createdAt: Date.now() })}\n`;
    await withFileLock(
      target,
      async (handle) => {
        // Someone judged our lock stale and took it over.
        fs.unlinkSync(handle.lockPath);
        fs.writeFileSync(handle.lockPath, foreign);
      },
      STORE,
    );
    expect(fs.readFileSync(`${target}.lock`, "utf8")).toBe(foreign);
  });

  test("in-process callers of one path are serialised in FIFO order", async () => {
    const target = freshTarget();
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        withFileLock(
          target,
          async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await Bun.sleep(2);
            order.push(i);
            inside--;
          },
          STORE,
        ),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("different paths do not wait for each other", async () => {
    const a = freshTarget();
    const b = freshTarget();
    const got = await withFileLock(a, () => withFileLock(b, async () => "both", { label: "b", timing: FAST }), {
      label: "a",
      timing: FAST,
    });
    expect(got).toBe("both");
  });

  test("a nested call for the same path receives the held handle instead of deadlocking", async () => {
    const target = freshTarget();
    const [outer, inner] = await withFileLock(
      target,
      async (h) => [h, await withFileLock(target, async (h2) => h2, STORE)] as const,
      STORE,
    );
    expect(inner).toBe(outer);
    expect(fs.existsSync(`${target}.lock`)).toBe(false);
  });

  test("work that outlives the section queues normally instead of reusing a released handle", async () => {
    const target = freshTarget();
    let late: Promise<number> | undefined;
    const outer = await withFileLock(
      target,
      async (h) => {
        late = (async () => {
          await Bun.sleep(20);
          return withFileLock(target, async (h2) => h2.createdAt, STORE);
        })();
        return h;
      },
      STORE,
    );
    expect(await late).toBeGreaterThanOrEqual(outer.createdAt);
    expect(fs.existsSync(`${target}.lock`)).toBe(false);
  });
});

describe("withFileLock across processes", () => {
  test("a live holder in another process blocks; after SIGKILL the dead-pid rule frees the lock at once", async () => {
    const target = freshTarget();
    const lockPath = `${target}.lock`;
    const script = path.join(path.dirname(target), "hold.ts");
    fs.writeFileSync(
      script,
      `import { withFileLock } from ${JSON.stringify(LOCK_TS)};
await withFileLock(process.argv[2]!, async () => {
  console.log("locked");
  await Bun.sleep(60_000);
}, { label: "auth store", timing: { staleMs: 60_000, waitMs: 5_000 } });
`,
    );
    const child = Bun.spawn([process.execPath, script, target], { stdout: "pipe", stderr: "inherit" });
    try {
      const reader = child.stdout.getReader();
      let out = "";
      while (!out.includes("locked")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`holder exited early: ${out}`);
        out += new TextDecoder().decode(value);
      }
      expect(parseLockContent(fs.readFileSync(lockPath, "utf8")).pid).toBe(child.pid);

      const err = await lockError(withFileLock(target, async () => {}, STORE));
      expect(err.message).toContain(`locked by pid ${child.pid} since `);
      expect(err.message).toContain(`(${lockPath})`);
    } finally {
      child.kill("SIGKILL");
      // Until the child is reaped it is a zombie, and kill(pid, 0) still reports it alive.
      await child.exited;
    }

    expect(fs.existsSync(lockPath)).toBe(true);
    const started = Date.now();
    const ok = await withFileLock(target, async () => "recovered", {
      label: "auth store",
      timing: { staleMs: 60_000, waitMs: 2_000 },
    });
    expect(ok).toBe("recovered");
    expect(Date.now() - started).toBeLessThan(500);
    expect(fs.existsSync(lockPath)).toBe(false);
  });
});
