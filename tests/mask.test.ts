// Masking and redaction (spec 02 §6). The table rows are the spec's own examples and boundaries.
import { describe, expect, test } from "bun:test";
import { markerDisplay, mask, redact, registerSecret } from "../lib/mask.ts";

describe("mask", () => {
  const rows: Array<[input: string, shown: string]> = [
    ["sk-or-v1-0123456789abcdefXYZW", "sk-or-v1…XYZW"],
    ["gsk_12345678abcd", "gsk_…cd"],
    ["abc", "…"],
    ["", "missing"],
    ["abcdefghijklmnopqrstuvwx", "abcdefgh…uvwx"], // 24 chars
    ["abcdefghijklmnopqrstuvw", "abcd…vw"], // 23 chars
    ["abcdefghijkl", "abcd…kl"], // 12 chars
    ["abcdefghijk", "…"], // 11 chars
    ["a", "…"],
  ];
  test.each(rows)("%p → %p", (input, shown) => {
    expect(mask(input)).toBe(shown);
  });

  test("the ellipsis is U+2026", () => {
    expect(mask("abcdefghijkl").charCodeAt(4)).toBe(0x2026);
  });

  test("markers print as marker(NAME)", () => {
    expect(markerDisplay("OPENAI_API_KEY")).toBe("marker(OPENAI_API_KEY)");
    expect(markerDisplay("secretref-managed")).toBe("marker(secretref-managed)");
  });
});

describe("redact", () => {
  const rows: Array<[name: string, input: string, expected: string]> = [
    ["sk- pattern", "key sk-TESTFAKEabcdefgh1234 failed", "key sk-T…34 failed"],
    ["sk- pattern, long", "x sk-proj-TESTFAKE-openai-0123456789abcdef y", "x sk-proj-…cdef y"],
    ["short sk- run is not a secret", "sk-abc", "sk-abc"],
    ["Bearer header", "Authorization: Bearer abcdefgh12345678", "Authorization: Bearer abcd…78"],
    ["short Bearer value stays", "Bearer abc", "Bearer abc"],
    ["x-api-key header, any case", "X-Api-Key: zzzzzzzzzzzzzzzzzzzzzzzzzzzz", "X-Api-Key: zzzzzzzz…zzzz"],
    ["Google key", "key=AIzaSyTESTFAKE0123456789abcdef", "key=AIzaSyTE…cdef"],
    ["already masked text is unchanged", "sk-ant-o…Qk9A and gsk_…cd", "sk-ant-o…Qk9A and gsk_…cd"],
  ];
  test.each(rows)("%s", (_name, input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  test("registered credential values are masked wherever they appear", () => {
    const secret = "plainTESTFAKEsecretvalue99";
    expect(redact(`a ${secret} b`)).toBe(`a ${secret} b`);
    registerSecret(secret);
    expect(redact(`a ${secret} b ${secret}`)).toBe("a plainTES…ue99 b plainTES…ue99");
  });

  test("values shorter than 8 chars are not registered (too common to replace)", () => {
    registerSecret("abc1234");
    expect(redact("abc1234")).toBe("abc1234");
  });

  test("a secret containing another registered one is masked whole", () => {
    registerSecret("innerTESTFAKE1");
    registerSecret("outer-innerTESTFAKE1-outer");
    const out = redact("outer-innerTESTFAKE1-outer");
    expect(out).toBe(mask("outer-innerTESTFAKE1-outer"));
  });
});

describe("redact: registered secrets with regex metacharacters and shared prefixes", () => {
  test("masks each whole secret, longest first, whatever characters it holds", () => {
    const odd = "a.b*c(d)e-f/g[h]+$^|";
    const short = "bench-key-1-abcdef";
    const long = "bench-key-12-abcdef";
    for (const s of [odd, short, long]) registerSecret(s);
    const out = redact(`x ${odd} y ${long} z ${short}Q`);
    for (const s of [odd, short, long]) expect(out).not.toContain(s);
    expect(out).toBe(`x ${mask(odd)} y ${mask(long)} z ${mask(short)}Q`);
  });
});
