/**
 * The one secret normaliser (spec 02 §5, D4). Every input path (paste prompt, stdin, setup-token, onboard flags,
 * env and .env values, SecretRef values, OAuth token responses) calls `normalizeSecret`.
 */

/** `paste`: interactive / stdin input of a token or key; `value`: flags, env, files. */
export type NormalizeMode = "paste" | "value";

export interface NormalizeOptions {
  mode: NormalizeMode;
  /** What the value is, for messages: `token`, `API key`, `ANTHROPIC_API_KEY`. */
  what: string;
  /** True for input paths (paste / stdin / flags): enables the truncation checks of step 8. Env reads pass false. */
  inputPath?: boolean;
}

export type NormalizeResult =
  | { ok: true; value: string }
  | { ok: false; code: "empty" | "shell_command" | "bad_character" | "truncated"; message: string };

const SHELL_ASSIGNMENT = /^(export\s+)?[A-Z][A-Z0-9_]{2,}=.+/;
const SHELL_PREFIXES = ["jarvis ", "openclaw ", "claude ", "curl ", "$(", "`"];
// Step 2 trims these in addition to ASCII whitespace.
const EDGE_WHITESPACE = /^[\s\u00a0\ufeff]+|[\s\u00a0\ufeff]+$/g;
const QUOTES = ['"', "'", "`"];

/** Known key formats with a minimum length (step 8). */
const TRUNCATION_RULES: ReadonlyArray<{ prefix: string; label: string; min: number }> = [
  { prefix: "sk-ant-oat01-", label: "setup-token", min: 80 },
  { prefix: "sk-ant-api", label: "Anthropic API key", min: 80 },
];

const CHAR_HINTS: Record<number, string> = {
  0x2018: "curly quotes usually come from copying out of a document or chat",
  0x2019: "curly quotes usually come from copying out of a document or chat",
  0x201c: "curly quotes usually come from copying out of a document or chat",
  0x201d: "curly quotes usually come from copying out of a document or chat",
  0x200b: "a zero-width space usually comes from copying out of a web page",
  0x00a0: "a non-breaking space usually comes from copying out of a web page",
  0x2026: "an ellipsis means the value was shortened; copy the whole secret",
};

/** `U+201C` style code point name. */
function codePointName(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Normalise a secret per spec 02 §5.
 * Steps: drop CR/LF/U+2028/U+2029 anywhere; trim (incl. tab, U+00A0, U+FEFF); strip one pair of matching straight
 * quotes; reject shell commands; (paste) drop all inner whitespace; reject empty; reject characters outside printable
 * ASCII (0x21–0x7E paste, 0x20–0x7E value) naming the 1-based position; (input paths) reject known formats < 80 chars.
 * @returns the normalised value, or a rejection whose message never contains the value itself.
 */
export function normalizeSecret(input: string, opts: NormalizeOptions): NormalizeResult {
  let v = input.replace(/[\r\n\u2028\u2029]/g, "").replace(EDGE_WHITESPACE, "");
  if (v.length >= 2 && QUOTES.includes(v[0]!) && v[v.length - 1] === v[0]) {
    v = v.slice(1, -1).replace(EDGE_WHITESPACE, "");
  }
  if (SHELL_ASSIGNMENT.test(v) || SHELL_PREFIXES.some((p) => v.startsWith(p))) {
    return { ok: false, code: "shell_command", message: "input looks like a shell command, not a secret" };
  }
  if (opts.mode === "paste") v = v.replace(/[\s\u00a0\ufeff]+/g, "");
  if (v.length === 0) return { ok: false, code: "empty", message: `${opts.what} is empty` };
  const low = opts.mode === "paste" ? 0x21 : 0x20;
  let position = 0;
  for (const ch of v) {
    position++;
    const cp = ch.codePointAt(0)!;
    if (cp < low || cp > 0x7e) {
      const hint = CHAR_HINTS[cp];
      return {
        ok: false,
        code: "bad_character",
        message: `${opts.what} contains ${codePointName(cp)} at position ${position}${hint ? ` (${hint})` : ""}`,
      };
    }
  }
  if (opts.inputPath) {
    for (const rule of TRUNCATION_RULES) {
      if (v.startsWith(rule.prefix) && v.length < rule.min) {
        return {
          ok: false,
          code: "truncated",
          message:
            `${rule.label} looks truncated: ${v.length} chars, expected at least ${rule.min}; ` +
            "your terminal may have wrapped it — paste the whole token",
        };
      }
    }
  }
  return { ok: true, value: v };
}
