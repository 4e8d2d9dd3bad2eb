/**
 * Cross-process file locks for every jarvis writer (spec 03 §4 "Locking and atomic writes", D3).
 *
 * A lock is the file `<target>.lock` holding `{"pid":<pid>,"createdAt":<epoch ms>}\n`. Inside one process a per-path
 * async mutex queues callers first, so the lock file only arbitrates between processes.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import path from "node:path";
import { errnoCode, JarvisError } from "./errors.ts";
import { isoTime } from "./duration.ts";

/** Lock timing in milliseconds (03 §4 "stale lock", "waiting"; test hooks `JARVIS_LOCK_*_MS`). */
export interface LockTiming {
  /** A lock whose `createdAt` (or, when unreadable, mtime) is older than this is stale. */
  staleMs: number;
  /** Total time to keep retrying a live lock before `lock_timeout`. */
  waitMs: number;
}

/** Defaults of 03 §4: stale after 30 000 ms, give up after 10 000 ms. */
export const DEFAULT_LOCK_TIMING: Readonly<LockTiming> = { staleMs: 30_000, waitMs: 10_000 };

/**
 * Lock timing from an env snapshot: `JARVIS_LOCK_STALE_MS` and `JARVIS_LOCK_WAIT_MS` (ms).
 *
 * Invariant: each value is used only if, trimmed, it is a run of decimal digits denoting a safe integer > 0;
 * anything else (unset, blank, `abc`, `0`, `-5`, `1.5`, `1e3`) silently falls back to the default (30 000 / 10 000).
 * A zero or negative stale age would make every live lock stale, which is exactly what the lock exists to prevent.
 */
export function lockTimingFromEnv(env: Record<string, string | undefined>): LockTiming {
  return {
    staleMs: positiveIntOr(env.JARVIS_LOCK_STALE_MS, DEFAULT_LOCK_TIMING.staleMs),
    waitMs: positiveIntOr(env.JARVIS_LOCK_WAIT_MS, DEFAULT_LOCK_TIMING.waitMs),
  };
}

function positiveIntOr(raw: string | undefined, fallback: number): number {
  const text = raw?.trim() ?? "";
  if (!/^\d+$/.test(text)) return fallback;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/** What a holder knows about the lock it owns; passed to the critical section. */
export interface LockHandle {
  /** The file the lock protects. */
  readonly targetPath: string;
  /** `<targetPath>.lock`. */
  readonly lockPath: string;
  /** Our pid, as written into the lock file. */
  readonly pid: number;
  /** Epoch ms written into the lock file. */
  readonly createdAt: number;
}

/** Parsed lock file content; `pid`/`createdAt` are absent when the content is unreadable. */
export interface LockInfo {
  pid?: number;
  /** Epoch ms. */
  createdAt?: number;
  /** Epoch ms of the lock file's last modification. */
  mtimeMs: number;
}

/**
 * Parses lock file text `{"pid": <int>, "createdAt": <epoch ms | ISO-8601>}` (03 §4).
 * Returns `{}` for anything else, including a pid ≤ 0: `kill(0, 0)` or a negative pid would probe a whole process
 * group, so such a pid must never reach the liveness check.
 */
export function parseLockContent(text: string): { pid?: number; createdAt?: number } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return {};
  const { pid, createdAt } = doc as { pid?: unknown; createdAt?: unknown };
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return {};
  const at =
    typeof createdAt === "number" ? createdAt : typeof createdAt === "string" ? Date.parse(createdAt) : Number.NaN;
  // Outside the Date range a createdAt could not even be shown in the timeout message.
  return Number.isFinite(at) && Math.abs(at) <= 8.64e15 ? { pid, createdAt: at } : {};
}

/**
 * Whether pid is alive per 03 §4: `kill(pid, 0)` succeeding or failing with `EPERM` means alive, `ESRCH` dead.
 * Any other failure counts as alive so an odd platform error never breaks a live holder's lock.
 */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) !== "ESRCH";
  }
}

/**
 * The stale rule of 03 §4 as a pure function. A lock is stale when its holder pid is dead, or its `createdAt` is
 * more than `staleMs` ms before `now`, or its content is unreadable and its mtime is more than `staleMs` ms before
 * `now` (a fresh unreadable lock is a holder between `open` and `write`).
 */
export function isLockStale(
  info: LockInfo,
  now: number,
  staleMs: number,
  isAlive: (pid: number) => boolean = isPidAlive,
): boolean {
  if (info.pid === undefined || info.createdAt === undefined) return now - info.mtimeMs > staleMs;
  return now - info.createdAt > staleMs || !isAlive(info.pid);
}

/**
 * Creates `dir` and its missing ancestors with mode 0700 (chmod after mkdir, so the umask cannot loosen it).
 * Directories that already exist are left exactly as they are (03 §4 atomic write step 1, README "File layout").
 */
export function ensurePrivateDir(dir: string): void {
  const missing: string[] = [];
  let current = path.resolve(dir);
  while (!fs.existsSync(current)) {
    missing.push(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      // Another writer created it between our check and mkdir; it owns the mode decision then.
      if (errnoCode(e) === "EEXIST") continue;
      throw e;
    }
    fs.chmodSync(d, 0o700);
  }
}

/** Held locks of the current async context, keyed by absolute lock path; lets nested sections reuse the handle. */
const heldLocks = new AsyncLocalStorage<Map<string, { handle: LockHandle; released: boolean }>>();

/** Tail of the in-process queue per absolute lock path. */
const queues = new Map<string, Promise<void>>();

/**
 * Runs `fn` while holding the cross-process lock `<targetPath>.lock` (03 §4), then releases it, also when `fn`
 * throws. Resolves/rejects with `fn`'s outcome.
 *
 * - In-process: callers for the same path queue on an async mutex (FIFO). The lock wait budget starts once this
 *   caller reaches the head of that queue.
 * - Nesting: a `withFileLock` for the same path made inside `fn` (same async context, detected with
 *   AsyncLocalStorage) does not queue or re-lock; it runs at once with the held handle ("critical sections do not
 *   nest — a nested operation receives the held lock handle"). Work that outlives `fn` finds the handle released
 *   and queues normally.
 * - Acquisition: create the lock file with O_CREAT|O_EXCL|O_WRONLY, mode 0600 + fchmod 0600; missing parent dirs are
 *   created with mode 0700. A stale lock (`isLockStale`) is removed only if its bytes are unchanged since read, then
 *   acquisition retries at once. A live lock is retried after `min(1000, 25 × 2^attempt) × (1 + rand[0,1))` ms until
 *   `timing.waitMs` ms have passed.
 * - Release: the lock file is unlinked only if it still holds our exact content.
 *
 * `opts.label` names the protected file in the timeout message (`auth store`, `jarvis.json`, …); `opts.timing`
 * defaults to `lockTimingFromEnv(process.env)`.
 *
 * @throws JarvisError `lock_timeout` (exit 1) naming the holder pid, its ISO start time and the lock path.
 * @throws the underlying fs error if the lock cannot be created for another reason (e.g. EACCES).
 */
export async function withFileLock<T>(
  targetPath: string,
  fn: (handle: LockHandle) => Promise<T>,
  opts: { label: string; timing?: LockTiming },
): Promise<T> {
  const target = path.resolve(targetPath);
  const lockPath = `${target}.lock`;
  const held = heldLocks.getStore()?.get(lockPath);
  if (held && !held.released) return fn(held.handle);

  const timing = opts.timing ?? lockTimingFromEnv(process.env);
  return withMutex(lockPath, async () => {
    const handle = await acquire(target, lockPath, opts.label, timing);
    const state = { handle, released: false };
    const scope = new Map(heldLocks.getStore());
    scope.set(lockPath, state);
    try {
      return await heldLocks.run(scope, () => fn(handle));
    } finally {
      state.released = true;
      releaseLock(handle);
    }
  });
}

async function withMutex<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => {
    done = resolve;
  });
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

function lockContent(handle: LockHandle): string {
  return `${JSON.stringify({ pid: handle.pid, createdAt: handle.createdAt })}\n`;
}

/** Does the lock file still hold exactly this handle's `{pid, createdAt}` (not taken over as stale)? */
export function lockStillHeld(handle: LockHandle): boolean {
  try {
    return fs.readFileSync(handle.lockPath, "utf8") === lockContent(handle);
  } catch {
    return false;
  }
}

/**
 * Take `<targetPath>.lock` again after it was lost (08 §4 step 4), outside `withFileLock`'s scope: same creation,
 * stale and wait rules. The caller releases the returned handle with `releaseLock`.
 * @throws JarvisError lock_timeout
 */
export function reacquireLock(handle: LockHandle, label: string, timing: LockTiming): Promise<LockHandle> {
  return acquire(handle.targetPath, handle.lockPath, label, timing);
}

async function acquire(target: string, lockPath: string, label: string, timing: LockTiming): Promise<LockHandle> {
  ensurePrivateDir(path.dirname(lockPath));
  const deadline = Date.now() + timing.waitMs;
  let attempt = 0;
  for (;;) {
    const handle: LockHandle = { targetPath: target, lockPath, pid: process.pid, createdAt: Date.now() };
    if (tryCreate(handle)) return handle;

    const seen = readLock(lockPath);
    if (seen === null) continue; // released between our open and read
    if (isLockStale(seen.info, Date.now(), timing.staleMs) && removeIfUnchanged(lockPath, seen.bytes)) continue;

    const remaining = deadline - Date.now();
    if (remaining <= 0) throw lockTimeout(label, lockPath, seen.info);
    const backoff = Math.min(1000, 25 * 2 ** attempt) * (1 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, Math.min(backoff, remaining)));
    attempt++;
  }
}

/** Creates the lock file; false if it already exists. */
function tryCreate(handle: LockHandle): boolean {
  let fd: number;
  try {
    fd = fs.openSync(handle.lockPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
  } catch (e) {
    if (errnoCode(e) === "EEXIST") return false;
    throw e;
  }
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, lockContent(handle));
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(handle.lockPath, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return true;
}

/** Reads the lock's bytes and mtime through one fd; null when the lock no longer exists. */
function readLock(lockPath: string): { bytes: Buffer; info: LockInfo } | null {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, "r");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return null;
    throw e;
  }
  try {
    const bytes = fs.readFileSync(fd);
    const { mtimeMs } = fs.fstatSync(fd);
    return { bytes, info: { ...parseLockContent(bytes.toString("utf8")), mtimeMs } };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Unlinks the lock only if it still holds `bytes`, so a lock re-taken by someone else since we judged it stale
 * survives. True when the caller should try again at once: the lock was removed by us, is already gone, or now holds
 * other bytes (a new holder, judged afresh). False when unlink is refused, so the caller waits instead of spinning.
 */
function removeIfUnchanged(lockPath: string, bytes: Buffer): boolean {
  try {
    if (!fs.readFileSync(lockPath).equals(bytes)) return true; // changed: re-evaluate the new holder at once
    fs.unlinkSync(lockPath);
    return true;
  } catch (e) {
    return errnoCode(e) === "ENOENT";
  }
}

/** Unlink the lock file only if it still holds our exact content. Never throws. */
export function releaseLock(handle: LockHandle): void {
  try {
    if (fs.readFileSync(handle.lockPath, "utf8") === lockContent(handle)) fs.unlinkSync(handle.lockPath);
  } catch {
    // Gone or unreadable: it is no longer ours to remove, and release must not mask fn's own outcome.
  }
}

function lockTimeout(label: string, lockPath: string, info: LockInfo): JarvisError {
  // Absolute times in text are ISO-8601 UTC without milliseconds (04 §3).
  const since = isoTime(info.createdAt ?? info.mtimeMs);
  const pid = info.pid ?? "unknown";
  return new JarvisError(
    "lock_timeout",
    `${label} is locked by pid ${pid} since ${since} (${lockPath}); another jarvis is writing. ` +
      `Retry, or delete the lock file if pid ${pid} is not running.`,
  );
}
