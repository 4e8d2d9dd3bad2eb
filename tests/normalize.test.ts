// Secret normaliser (spec 02 §5). One table per mode; rows are the spec's own examples plus the step boundaries.
import { describe, expect, test } from "bun:test";
import { normalizeSecret } from "../lib/normalize.ts";

const CURLY = "curly quotes usually come from copying out of a document or chat";
const SHELL = "input looks like a shell command, not a secret";

describe("paste mode: accepted values", () => {
  const rows: Array<[name: string, input: string, expected: string]> = [
    ["spec: surrounding spaces and CRLF", "  sk-abc\r\n", "sk-abc"],
    ["spec: the same inside straight double quotes", '"  sk-abc\r\n"', "sk-abc"],
    ["spec: wrapped setup-token lines are joined", "sk-ant-oat01-AAAA\n  BBBB", "sk-ant-oat01-AAAABBBB"],
    ["U+2028 / U+2029 removed anywhere", "ab\u2028cd\u2029ef", "abcdef"],
    ["tab, NBSP and BOM trimmed at the edges", "\t\u00a0\ufeffkey-123\ufeff\u00a0\t", "key-123"],
    ["single quotes stripped", "'k-1'", "k-1"],
    ["backticks stripped as a pair", "`k-2`", "k-2"],
    ["quote pair stripped, then trimmed again", '"  k-3  "', "k-3"],
    ["only one pair is stripped", "''k''", "'k'"],
    ["mismatched quotes stay", "\"k-4'", "\"k-4'"],
    ["inner whitespace removed (paste only)", "ab cd\tef", "abcdef"],
    ["lower-case assignment is not a shell command", "abc=def", "abc=def"],
    ["two-letter upper-case assignment is not a shell command", "AB=x", "AB=x"],
  ];
  test.each(rows)("%s", (_name, input, expected) => {
    expect(normalizeSecret(input, { mode: "paste", what: "token" })).toEqual({ ok: true, value: expected });
  });
});

describe("paste mode: rejected values", () => {
  const rows: Array<[name: string, input: string, code: string, message: string]> = [
    ["spec: curly quotes at position 1", "\u201csk-x\u201d", "bad_character", `token contains U+201C at position 1 (${CURLY})`],
    ["spec: export assignment", "export OPENAI_API_KEY=sk-x", "shell_command", SHELL],
    ["plain assignment", "OPENAI_API_KEY=sk-x", "shell_command", SHELL],
    ["assignment inside quotes", '"ANTHROPIC_API_KEY=sk-y"', "shell_command", SHELL],
    ["jarvis command", "jarvis models auth paste-token", "shell_command", SHELL],
    ["openclaw command", "openclaw models status", "shell_command", SHELL],
    ["claude command", "claude setup-token", "shell_command", SHELL],
    ["curl command", "curl https://x", "shell_command", SHELL],
    ["command substitution", "$(cat key)", "shell_command", SHELL],
    ["leading backtick", "`cat key", "shell_command", SHELL],
    ["empty", "", "empty", "token is empty"],
    ["whitespace only", " \r\n\t ", "empty", "token is empty"],
    ["empty quotes", '""', "empty", "token is empty"],
    ["position is 1-based in the normalised string", "  abc\u201d", "bad_character", `token contains U+201D at position 4 (${CURLY})`],
    ["control character", "ab\u0001c", "bad_character", "token contains U+0001 at position 3"],
    ["DEL", "abc\u007f", "bad_character", "token contains U+007F at position 4"],
  ];
  test.each(rows)("%s", (_name, input, code, message) => {
    const r = normalizeSecret(input, { mode: "paste", what: "token" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code as string).toBe(code);
    if (code === "bad_character" && !message.includes("(")) expect(r.message.startsWith(message)).toBe(true);
    else expect(r.message).toBe(message);
  });
});

describe("value mode", () => {
  const ok: Array<[name: string, input: string, expected: string]> = [
    ["spec: inner spaces survive", "Bearer x", "Bearer x"],
    ["spec: CR/LF stripped", "sk-live-1\r\n234\n", "sk-live-1234"],
    ["spec: surrounding quotes stripped", "'sk-live-5678'", "sk-live-5678"],
    ["space (0x20) allowed inside", "a b", "a b"],
  ];
  test.each(ok)("%s", (_name, input, expected) => {
    expect(normalizeSecret(input, { mode: "value", what: "OPENAI_API_KEY" })).toEqual({ ok: true, value: expected });
  });

  test("tab inside a value is rejected with its position and the variable name", () => {
    const r = normalizeSecret("ab\tcd", { mode: "value", what: "OPENAI_API_KEY" });
    expect(r).toMatchObject({ ok: false, code: "bad_character" });
    expect(!r.ok && r.message).toStartWith("OPENAI_API_KEY contains U+0009 at position 3");
  });

  test("a rejection message never contains the value", () => {
    const value = "sk-TESTFAKE-\u201cvalue-abcdefgh";
    const r = normalizeSecret(value, { mode: "value", what: "X" });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message.includes("TESTFAKE")).toBe(false);
  });
});

describe("step 8: truncation on input paths only", () => {
  const short61 = "sk-ant-oat01-" + "A".repeat(48);
  test("a 61-char setup-token from an input path is rejected with the spec text", () => {
    expect(short61.length).toBe(61);
    expect(normalizeSecret(short61, { mode: "paste", what: "token", inputPath: true })).toEqual({
      ok: false,
      code: "truncated",
      message: "setup-token looks truncated: 61 chars, expected at least 80; your terminal may have wrapped it — paste the whole token",
    });
  });
  test("an 80-char setup-token passes", () => {
    const full = "sk-ant-oat01-" + "A".repeat(67);
    expect(normalizeSecret(full, { mode: "paste", what: "token", inputPath: true })).toEqual({ ok: true, value: full });
  });
  test("a short sk-ant-api key from a flag is rejected", () => {
    const r = normalizeSecret("sk-ant-api03-short", { mode: "value", what: "--anthropic-api-key", inputPath: true });
    expect(r).toMatchObject({ ok: false, code: "truncated" });
  });
  test("env reads do not apply the truncation check", () => {
    expect(normalizeSecret(short61, { mode: "value", what: "ANTHROPIC_OAUTH_TOKEN" })).toEqual({ ok: true, value: short61 });
  });
});
