/**
 * Gateway sessions (spec 07 §3): `$STATE/agents/<agentId>/sessions/sessions.json`, written with the store
 * discipline (lock, re-read, change one session's fields, atomic write, 0600).
 */
import fs from "node:fs";
import path from "node:path";
import { updateJsonFile } from "./atomic.ts";
import { errnoCode } from "./errors.ts";
import { log } from "./log.ts";

export interface Session {
  modelOverride?: string;
  authProfileOverride?: string;
  authProfileOverrideSource?: "user" | "auto";
  createdAt?: number;
  updatedAt?: number;
  [field: string]: unknown;
}

export const SESSION_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/** Path of the sessions file of an agent. */
export function sessionsPath(sessionsDir: string): string {
  return path.join(sessionsDir, "sessions.json");
}

function parse(text: string | null): { version: number; sessions: Record<string, Session>; [k: string]: unknown } {
  if (text === null) return { version: 1, sessions: {} };
  const doc = JSON.parse(text);
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return { version: 1, sessions: {} };
  if (!doc.sessions || typeof doc.sessions !== "object") doc.sessions = {};
  return doc;
}

/** Read one session (read-only; a missing or unreadable file is an empty session). */
export function readSession(file: string, key: string): Session {
  return readSessions(file).sessions[key] ?? {};
}

function readSessions(file: string): ReturnType<typeof parse> {
  try {
    return parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") log.warn(`cannot read ${file}: ${(e as Error).message}`);
    return parse(null);
  }
}

/**
 * Sessions of a long-running reader (the gateway): the parsed file is kept and re-read only when its mtime, size or
 * inode changed, so a request costs one stat instead of a read and a parse.
 */
export class SessionReader {
  private stamp = "";
  private doc = parse(null);
  constructor(readonly file: string) {}
  /** A copy of one session (an empty object when absent). */
  get(key: string): Session {
    let stamp = "missing";
    try {
      const st = fs.statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      // missing: no sessions
    }
    if (stamp !== this.stamp) {
      this.doc = stamp === "missing" ? parse(null) : readSessions(this.file);
      this.stamp = stamp;
    }
    const s = this.doc.sessions[key];
    return s ? { ...s } : {};
  }
}

/**
 * Change one session under the lock. `change` gets a copy of the session (undefined when absent) and returns the
 * next one, or null to delete it. Failures are logged and dropped (07 §3; bookkeeping never blocks a reply).
 * @returns the session as written (or null when deleted)
 */
export async function updateSession(file: string, key: string, change: (s: Session | undefined) => Session | null, now: number): Promise<Session | null> {
  try {
    const { result } = await updateJsonFile(file, {
      label: "sessions.json",
      read: parse,
      mutate: (doc) => {
        const cur = doc.sessions[key];
        const next = change(cur ? { ...cur } : undefined);
        if (next === null) {
          if (!cur) return { doc: undefined, result: null };
          delete doc.sessions[key];
          return { doc, result: null };
        }
        if (cur && JSON.stringify({ ...cur, updatedAt: 0 }) === JSON.stringify({ ...next, updatedAt: 0 })) return { doc: undefined, result: cur };
        const written = { ...next, createdAt: cur?.createdAt ?? now, updatedAt: now };
        doc.sessions[key] = written;
        return { doc, result: written };
      },
    });
    return result;
  } catch (e) {
    log.warn(`session ${key} not saved: ${(e as Error).message}`);
    return null;
  }
}
