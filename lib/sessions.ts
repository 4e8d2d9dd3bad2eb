/**
 * Gateway sessions (spec 07 §3): `$STATE/agents/<agentId>/sessions/sessions.json`, written with the store
 * discipline (lock, re-read, change one session's fields, atomic write, 0600).
 */
import fs from "node:fs";
import path from "node:path";
import { isPlainObject } from "./_utils.ts";
import { updateJsonFile } from "./atomic.ts";
import { dict, toDict } from "./dict.ts";
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

interface SessionsDoc {
  version: number;
  /** Null-prototype: session keys are client input (`__proto__` and `toString` are valid keys, 07 §2). */
  sessions: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * Parse sessions.json. The `sessions` map and the sessions in it become null-prototype dictionaries, so a key such
 * as `__proto__` is read and written as an entry: on an ordinary object the assignment would change the prototype
 * and the session would never be saved, and `toString` would read an inherited function.
 */
function parse(text: string | null): SessionsDoc {
  if (text === null) return { version: 1, sessions: dict() };
  const doc = JSON.parse(text);
  if (!isPlainObject(doc)) return { version: 1, sessions: dict() };
  doc.sessions = isPlainObject(doc.sessions) ? toDict(doc.sessions) : dict();
  return doc as SessionsDoc;
}

/** A copy of one session of the map; an entry that is not an object (a hand edit) counts as absent but is kept. */
function sessionOf(doc: SessionsDoc, key: string): Session | undefined {
  const s = doc.sessions[key];
  return isPlainObject(s) ? ({ ...s } as Session) : undefined;
}

function readSessions(file: string): SessionsDoc {
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
    return sessionOf(this.doc, key) ?? {};
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
        const cur = sessionOf(doc, key);
        const next = change(cur && { ...cur });
        if (next === null) {
          if (!Object.hasOwn(doc.sessions, key)) return { doc: undefined, result: null };
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
