/**
 * Upserting one variable in a dotenv file (spec 09 §2.2 ".env upsert"): every other line stays byte-identical, the
 * first assignment of the name is replaced, later ones are deleted, the value is quoted so that `dotenv.parse`
 * (02 §1) reads it back exactly. The file write is locked (`<file>.lock`) and atomic (mode 0600, 03 §4).
 */
import { atomicWriteFile, readIfExists } from "./atomic.ts";
import { errnoCode, JarvisError } from "./errors.ts";
import { withFileLock } from "./lock.ts";

const BARE = /^[A-Za-z0-9._~+/=:@-]+$/;
// dotenv's own assignment syntax: optional `export `, a name of [\w.-], then `=` or `: ` (dotenv ≥ 16).
const ASSIGNMENT = /^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(.*)$/;

/**
 * The value as it must appear after `<VAR>=`: bare when it matches `^[A-Za-z0-9._~+/=:@-]+$`, else in single quotes
 * (read literally by dotenv), else — when it contains `'` — in double quotes.
 * @throws JarvisError `dotenv_ambiguous` when it contains `'` and also `"` or `\` (no quoting reads back exactly)
 */
export function formatDotenvValue(name: string, value: string): string {
  if (BARE.test(value)) return value;
  if (!value.includes("'")) return `'${value}'`;
  if (value.includes('"') || value.includes("\\")) {
    throw new JarvisError("dotenv_ambiguous", `${name} cannot be written to .env unambiguously; use --store profile.`);
  }
  return `"${value}"`;
}

/** One assignment in a dotenv text: its name and the lines it spans (a quoted value may continue over lines). */
interface Assignment {
  name: string;
  first: number;
  last: number;
}

/** Index of the line holding the closing `quote` of a value opened at `line`/`col`, or -1 when it never closes. */
function closingLine(lines: readonly string[], line: number, col: number, quote: string): number {
  for (let i = line, start = col; i < lines.length; i++, start = 0) {
    const text = lines[i]!;
    for (let k = start; k < text.length; k++) {
      if (text[k] === "\\" && text[k + 1] === quote) k++;
      else if (text[k] === quote) return i;
    }
  }
  return -1;
}

/** Every assignment of the text, in order; continuation lines of multi-line quoted values belong to their owner. */
function assignments(lines: readonly string[]): Assignment[] {
  const out: Assignment[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = ASSIGNMENT.exec(lines[i]!.replace(/^\uFEFF/, "").replace(/\r$/, ""));
    if (!m) continue;
    const value = m[2]!;
    const lead = value.length - value.trimStart().length;
    const quote = value.trimStart()[0];
    let last = i;
    if (quote === "'" || quote === '"' || quote === "`") {
      const col = lines[i]!.length - value.length + lead + 1 - (lines[i]!.endsWith("\r") ? 1 : 0);
      const end = closingLine(lines, i, col, quote);
      if (end > i) last = end;
    }
    out.push({ name: m[1]!, first: i, last });
    i = last;
  }
  return out;
}

/**
 * Upsert `<name>=<value>` in dotenv `text` (null = no file): replace the first assignment of `name` (with or without
 * `export `), delete later ones, keep every other line byte-identical, append when absent.
 * @returns the new text and whether it differs from the old one
 * @throws JarvisError `dotenv_ambiguous` (see `formatDotenvValue`)
 */
export function upsertDotenvText(text: string | null, name: string, value: string): { text: string; changed: boolean } {
  const line = `${name}=${formatDotenvValue(name, value)}`;
  const old = text ?? "";
  const lines = old === "" ? [] : old.split("\n");
  // A final newline leaves an empty last element that is not a line of its own.
  const endsWithNewline = old.endsWith("\n");
  if (endsWithNewline) lines.pop();
  const mine = assignments(lines).filter((a) => a.name === name);
  let out: string[];
  if (mine.length === 0) {
    const crlf = lines.length > 0 && lines.every((l) => l.endsWith("\r"));
    out = [...lines, line + (crlf ? "\r" : "")];
  } else {
    const drop = new Set<number>();
    for (const a of mine) for (let i = a.first; i <= a.last; i++) drop.add(i);
    const head = mine[0]!;
    const bom = lines[head.first]!.startsWith("\uFEFF") ? "\uFEFF" : "";
    const cr = lines[head.last]!.endsWith("\r") ? "\r" : "";
    out = [];
    lines.forEach((l, i) => {
      if (i === head.first) out.push(bom + line + cr);
      else if (!drop.has(i)) out.push(l);
    });
  }
  const next = out.join("\n") + (out.length > 0 && (endsWithNewline || mine.length === 0) ? "\n" : "");
  return { text: next, changed: next !== old };
}

/**
 * Upsert a variable in the dotenv file at `file` under `<file>.lock`: re-read inside the lock, write atomically
 * (mode 0600, or stricter if the file already was) only when the text changes.
 * @returns whether the file was written
 * @throws JarvisError dotenv_ambiguous (nothing written), lock_timeout, dotenv_unreadable
 */
export async function upsertDotenvFile(file: string, name: string, value: string): Promise<boolean> {
  // Checked before the lock so that a value that cannot be written creates no lock file and no directory.
  formatDotenvValue(name, value);
  return withFileLock(
    file,
    async () => {
      let text: string | null;
      try {
        text = readIfExists(file);
      } catch (e) {
        throw new JarvisError("dotenv_unreadable", `cannot read ${file} (${errnoCode(e) ?? String(e)})`);
      }
      const r = upsertDotenvText(text, name, value);
      if (!r.changed) return false;
      atomicWriteFile(file, r.text);
      return true;
    },
    { label: ".env" },
  );
}
