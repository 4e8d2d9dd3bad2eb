/**
 * Path checks shared by the `file` and `exec` secret providers (spec 06 §3, §4.2, §4.3): absolute paths on every
 * platform, `trustedDirs` containment, the owner rule and permission display.
 */
import fsp from "node:fs/promises";
import path from "node:path";

/** POSIX `/…`, Windows `X:\…` (or `X:/…`) and UNC `\\host\…` count as absolute on every platform (06 §3). */
export function isAbsoluteSecretPath(p: string): boolean {
  return p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p) || /^\\\\[^\\]/.test(p);
}

/** True when `realFile` lies inside one of `dirs` (each dir compared by its own real path when it exists). */
export async function insideTrustedDirs(realFile: string, dirs: string[]): Promise<boolean> {
  for (const dir of dirs) {
    const realDir = await fsp.realpath(dir).catch(() => path.resolve(dir));
    const rel = path.relative(realDir, realFile);
    if (rel !== "" && rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)) return true;
  }
  return false;
}

/** Permission bits in `stat -c %a` style: `644`. */
export function modeOctal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, "0");
}

/** The current uid, or undefined where the platform has none (Windows). */
export function currentUid(): number | undefined {
  return typeof process.getuid === "function" ? process.getuid() : undefined;
}

/**
 * Owner rule shared by status, doctor, audit and gateway (06 §4.3): an exec command may be owned by the current
 * user or by root (uid 0), so system tools like `/usr/bin/security` are accepted.
 */
export function isTrustedCommandOwner(ownerUid: number, uid: number): boolean {
  return ownerUid === uid || ownerUid === 0;
}
