/**
 * Atomic, permission-safe file writes and the locked read–mutate–write cycle every jarvis writer uses
 * (spec 03 §4 "Locking and atomic writes", D3; applies to auth-profiles.json, jarvis.json, .env, sessions.json).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { errnoCode, JarvisError } from "./errors.ts";
import { ensurePrivateDir, isPidAlive, withFileLock, type LockTiming } from "./lock.ts";

/** The on-disk JSON form of every jarvis-written JSON file (03 §4 step 3): 2-space indent plus a trailing newline. */
export function serializeJson(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Replaces `targetPath` with `text` so that a crash leaves either the old or the new file, never a partial one
 * (03 §4 "Atomic write"):
 *
 * 1. missing parent dirs are created with mode 0700 (existing dirs untouched);
 * 2. temp `<target>.<pid>.<8 hex>.tmp` is opened O_CREAT|O_EXCL|O_WRONLY mode 0600, then fchmod'ed (umask-proof);
 * 3. the text is written as UTF-8, fsync'ed, closed;
 * 4. the temp is renamed over the target and the directory is fsync'ed (best-effort).
 *
 * Resulting mode: 0600, or the previous file's permission bits if they are a subset of 0600 (e.g. 0400) — a write
 * never loosens a mode. Synchronous; does not lock (use `updateJsonFile` / `withFileLock` around it).
 *
 * @throws the fs error of the failing step; the temp file is removed first and the target is left as it was.
 */
export function atomicWriteFile(targetPath: string, text: string): void {
  const target = path.resolve(targetPath);
  const dir = path.dirname(target);
  ensurePrivateDir(dir);
  const mode = resultingMode(target);
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
    fs.fchmodSync(fd, mode);
    writeAll(fd, Buffer.from(text, "utf8"));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/** 0600 unless the existing file is already stricter (its bits ⊆ 0600). */
function resultingMode(target: string): number {
  let previous: number;
  try {
    previous = fs.statSync(target).mode & 0o777;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return 0o600;
    throw e;
  }
  return (previous & ~0o600) === 0 ? previous : 0o600;
}

function writeAll(fd: number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
}

/** Makes the rename durable; some platforms/filesystems cannot fsync a directory, and the write already happened. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // best-effort (03 §4 step 4)
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Outcome of a mutation: the whole next document (or `undefined` = nothing to write) and the caller's result. */
export interface JsonMutation<R> {
  doc: unknown;
  result: R;
}

/** Options of `updateJsonFile`. `T` = what `read` makes of the file, `R` = what the mutation reports back. */
export interface UpdateJsonOptions<T, R> {
  /** Name used in the lock timeout message: `auth store`, `jarvis.json`, … */
  label: string;
  /** Lock timing (ms); defaults to `lockTimingFromEnv(process.env)`. */
  timing?: LockTiming;
  /**
   * Parses and validates the text re-read under the lock (`null` = file missing). Throwing (e.g. a JarvisError for
   * invalid JSON or a legacy-flat store, 03 §4 last paragraph) aborts the update: nothing is written.
   */
  read: (text: string | null) => T;
  /** Pure, synchronous field-level change of the fresh state; may modify `current` in place. */
  mutate: (current: T) => JsonMutation<R>;
  /**
   * Parses the original text into the value `doc` is compared with for "unchanged". Default `JSON.parse`;
   * a JSON5 file (jarvis.json) passes its JSON5 parser. A text it cannot parse counts as changed.
   */
  parseBaseline?: (text: string) => unknown;
}

/**
 * The write cycle of 03 §4: lock `<target>.lock` → re-read the target → `read` → `mutate` → atomic write of
 * `serializeJson(doc)` → unlock. No write happens (bytes and mtime stay) when `doc` is `undefined` or, as JSON,
 * deep-equals the file as it was (key order ignored, so formatting alone never causes a rewrite).
 *
 * Returns `{result, wrote}`: the mutation's result and whether the file was written.
 *
 * @throws JarvisError `lock_timeout` (see `withFileLock`); whatever `read`/`mutate` throw; fs errors of the write.
 */
export async function updateJsonFile<T, R>(
  targetPath: string,
  opts: UpdateJsonOptions<T, R>,
): Promise<{ result: R; wrote: boolean }> {
  try {
    return await lockedUpdate(targetPath, opts);
  } catch (e) {
    throw asWriteError(e, targetPath);
  }
}

const WRITE_ERRORS = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EISDIR", "EEXIST", "ELOOP"]);

/**
 * A file-system failure while locking or writing becomes a `write_failed` error naming the file and the cause
 * (exit 1), instead of an unexpected failure. Other errors pass through unchanged.
 */
function asWriteError(e: unknown, targetPath: string): unknown {
  const code = errnoCode(e);
  if (e instanceof JarvisError || code === undefined || !WRITE_ERRORS.has(code)) return e;
  const file = typeof (e as { path?: unknown }).path === "string" ? (e as { path: string }).path : targetPath;
  return new JarvisError("write_failed", `cannot write ${file}: ${code === "EACCES" || code === "EPERM" ? "permission denied" : code} (${code}); nothing was changed in ${targetPath}`);
}

function lockedUpdate<T, R>(targetPath: string, opts: UpdateJsonOptions<T, R>): Promise<{ result: R; wrote: boolean }> {
  return withFileLock(
    targetPath,
    async () => {
      removeDeadTempFiles(targetPath);
      const text = readIfExists(targetPath);
      const { doc, result } = opts.mutate(opts.read(text));
      if (doc === undefined) return { result, wrote: false };
      const next = serializeJson(doc);
      if (text !== null && isUnchanged(text, next, opts.parseBaseline ?? JSON.parse)) return { result, wrote: false };
      atomicWriteFile(targetPath, next);
      return { result, wrote: true };
    },
    { label: opts.label, timing: opts.timing },
  );
}

/** A file's text, or null when it does not exist. @throws other fs errors (EACCES, EISDIR, …) */
export function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return null;
    throw e;
  }
}

/**
 * Compares through a JSON round trip of the new text, so `undefined` members and `toJSON` values are judged as
 * they would be written, and against a fresh parse of the old text, so an in-place mutation cannot hide a change.
 */
function isUnchanged(oldText: string, nextText: string, parse: (text: string) => unknown): boolean {
  if (oldText === nextText) return true;
  try {
    return isDeepStrictEqual(parse(oldText), JSON.parse(nextText));
  } catch {
    return false;
  }
}

/**
 * Remove `<target>.<pid>.<hex>.tmp` files left by writers that were killed mid-write (their pid is dead). Runs under
 * the target's lock, so no live writer of this target can own such a file; never fails the write.
 */
export function removeDeadTempFiles(targetPath: string): void {
  const dir = path.dirname(targetPath);
  const base = path.basename(targetPath);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${base}.`) || !name.endsWith(".tmp")) continue;
    const m = /^\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(base.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isPidAlive(pid)) continue;
    try {
      fs.unlinkSync(path.join(dir, name));
    } catch {
      // another process cleaned it up first
    }
  }
}
