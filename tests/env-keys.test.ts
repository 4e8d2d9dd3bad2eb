// Env credential list and rotation order (spec 02 §4.1), natural order of suffixes.
import { describe, expect, test } from "bun:test";
import type { EnvEntry, EnvOrigin } from "../lib/env.ts";
import { envCredentialList, naturalCompare, splitKeyList } from "../lib/env-keys.ts";

/** An effective env from `name → value` (origin `process` unless given as `[value, origin]`). */
function vars(rec: Record<string, string | [string, EnvOrigin]>): Map<string, EnvEntry> {
  const m = new Map<string, EnvEntry>();
  for (const [k, v] of Object.entries(rec)) m.set(k, typeof v === "string" ? { value: v, origin: "process" } : { value: v[0], origin: v[1] });
  return m;
}

const values = (p: string, rec: Record<string, string | [string, EnvOrigin]>) => envCredentialList(p, vars(rec)).entries.map((e) => e.value);

describe("naturalCompare", () => {
  const rows: Array<[a: string, b: string, sign: -1 | 0 | 1]> = [
    ["2", "10", -1],
    ["10", "a", -1],
    ["2", "a", -1],
    ["9", "10", -1],
    ["a", "b", -1],
    ["a2", "a10", -1],
    ["x10y", "x9z", 1],
    ["B", "a", -1], // code point order: upper case first
    ["10", "10", 0],
    ["1", "01", -1], // equal numbers: shorter digit run first, so the order is total
    ["123456789012345678901234567890", "123456789012345678901234567891", -1], // beyond 2^53
    ["", "1", -1],
  ];
  test.each(rows)("%p vs %p → %p", (a, b, sign) => {
    expect(Math.sign(naturalCompare(a, b))).toBe(sign);
    expect(Math.sign(naturalCompare(b, a))).toBe(-sign || 0);
  });

  test("sorts the spec's example suffixes", () => {
    expect(["a", "10", "2", "_x", "1"].sort(naturalCompare)).toEqual(["1", "2", "10", "_x", "a"]);
  });
});

describe("splitKeyList", () => {
  const rows: Array<[raw: string, items: string[]]> = [
    ["k1; k2 k1", ["k1", "k2", "k1"]],
    ["a,b;c d\te\nf\r\ng", ["a", "b", "c", "d", "e", "f", "g"]],
    [" ,; \n ", []],
    ["single", ["single"]],
  ];
  test.each(rows)("%p", (raw, items) => {
    expect(splitKeyList(raw)).toEqual(items);
  });
});

describe("envCredentialList", () => {
  test("spec example: list, plain key, natural-order suffixes, de-duplicated", () => {
    const env = { GROQ_API_KEYS: "k1; k2 k1", GROQ_API_KEY: "k3", GROQ_API_KEY_10: "k5", GROQ_API_KEY_9: "k4" };
    expect(values("groq", env)).toEqual(["k1", "k2", "k3", "k4", "k5"]);
    expect(values("groq", { ...env, JARVIS_LIVE_GROQ_KEY: "kL" })).toEqual(["kL"]);
  });

  test("blank LIVE override is ignored", () => {
    expect(values("groq", { JARVIS_LIVE_GROQ_KEY: "  ", GROQ_API_KEY: "k3" })).toEqual(["k3"]);
  });

  test("entries carry var, origin and mode; token vars first", () => {
    const list = envCredentialList(
      "anthropic",
      vars({ ANTHROPIC_API_KEY: ["key-a", "state-dotenv"], ANTHROPIC_OAUTH_TOKEN: ["tok-a", "cwd-dotenv"] }),
    );
    expect(list.entries).toEqual([
      { value: "tok-a", var: "ANTHROPIC_OAUTH_TOKEN", origin: "cwd-dotenv", mode: "token" },
      { value: "key-a", var: "ANTHROPIC_API_KEY", origin: "state-dotenv", mode: "api_key" },
    ]);
  });

  test("_API_KEY_2 sorts before _API_KEY_10 and _API_KEY_a", () => {
    expect(values("openai", { OPENAI_API_KEY_a: "ka", OPENAI_API_KEY_10: "k10", OPENAI_API_KEY_2: "k2" })).toEqual(["k2", "k10", "ka"]);
  });

  test("_API_KEYS never counts as a suffix var, and an empty suffix does not match", () => {
    expect(envCredentialList("openai", vars({ OPENAI_API_KEYS: "a,b", OPENAI_API_KEY_: "c" })).entries.map((e) => e.var)).toEqual([
      "OPENAI_API_KEYS",
      "OPENAI_API_KEYS",
    ]);
  });

  test("google: GEMINI base, GOOGLE_API_KEY only at the very end", () => {
    expect(values("google", { GOOGLE_API_KEY: "g", GEMINI_API_KEY: "m", GEMINI_API_KEY_1: "m1", GEMINI_API_KEYS: "l" })).toEqual([
      "l",
      "m",
      "m1",
      "g",
    ]);
    expect(values("google-vertex", { GOOGLE_API_KEY: "g" })).toEqual(["g"]);
  });

  test("extra key vars keep the catalog order after <BASE>_API_KEY", () => {
    expect(values("huggingface", { HF_TOKEN: "h2", HUGGINGFACE_HUB_TOKEN: "h1", HUGGINGFACE_API_KEY: "h0" })).toEqual(["h0", "h1", "h2"]);
    expect(values("github-copilot", { GITHUB_TOKEN: "g3", GH_TOKEN: "g2", COPILOT_GITHUB_TOKEN: "g1" })).toEqual(["g1", "g2", "g3"]);
  });

  test("BASE maps - and . to _", () => {
    expect(values("vercel-ai-gateway", { VERCEL_AI_GATEWAY_API_KEY: "v1", AI_GATEWAY_API_KEY: "v2" })).toEqual(["v1", "v2"]);
  });

  test("oauth-only providers have no env list", () => {
    expect(values("openai-codex", { OPENAI_CODEX_API_KEY: "x" })).toEqual([]);
  });

  test("each list element is normalised on its own; invalid ones are dropped and reported by var, never by value", () => {
    const list = envCredentialList("groq", vars({ GROQ_API_KEYS: "'k1',\u201ck2\u201d,k3", GROQ_API_KEY: "k3" }));
    expect(list.entries.map((e) => e.value)).toEqual(["k1", "k3"]);
    expect(list.invalid).toHaveLength(1);
    expect(list.invalid[0]!.var).toBe("GROQ_API_KEYS");
    expect(list.invalid[0]!.message).toStartWith("GROQ_API_KEYS contains U+201C at position 1");
  });

  test("de-duplication compares normalised values (first wins)", () => {
    const list = envCredentialList("groq", vars({ GROQ_API_KEY: "'dup'", GROQ_API_KEY_1: "dup", GROQ_API_KEY_2: "other" }));
    expect(list.entries.map((e) => [e.var, e.value])).toEqual([
      ["GROQ_API_KEY", "dup"],
      ["GROQ_API_KEY_2", "other"],
    ]);
  });
});
