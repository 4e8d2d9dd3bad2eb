import { describe, expect, test } from "bun:test";
import {
  ENV_ID_ERROR,
  EXEC_ID_ERROR,
  FILE_ID_ERROR,
  coerceSecretRef,
  isAbsoluteJsonPointer,
  isSecretRefShaped,
  refDisplay,
  refKey,
  validateSecretRef,
  type SecretRef,
} from "../lib/secret-ref.ts";

describe("coerceSecretRef (06 §2 coercion table)", () => {
  const defaults = { env: "envmain", file: "filemain", exec: "vault" };
  const cases: Array<[string, unknown, typeof defaults | undefined, ReturnType<typeof coerceSecretRef>]> = [
    ["strict env ref", { source: "env", provider: "default", id: "OPENAI_API_KEY" }, undefined,
      { ref: { source: "env", provider: "default", id: "OPENAI_API_KEY" }, legacy: false }],
    ["strict file ref", { source: "file", provider: "filemain", id: "/providers/openai/apiKey" }, undefined,
      { ref: { source: "file", provider: "filemain", id: "/providers/openai/apiKey" }, legacy: false }],
    ["strict exec ref", { source: "exec", provider: "vault", id: "vault/openai/api-key" }, undefined,
      { ref: { source: "exec", provider: "vault", id: "vault/openai/api-key" }, legacy: false }],
    ["legacy env ref, no defaults", { source: "env", id: "OPENAI_API_KEY" }, undefined,
      { ref: { source: "env", provider: "default", id: "OPENAI_API_KEY" }, legacy: true }],
    ["legacy file ref uses defaults.file", { source: "file", id: "value" }, defaults,
      { ref: { source: "file", provider: "filemain", id: "value" }, legacy: true }],
    ["legacy exec ref uses defaults.exec", { source: "exec", id: "a/b" }, defaults,
      { ref: { source: "exec", provider: "vault", id: "a/b" }, legacy: true }],
    ["legacy ref ignores extra keys", { source: "env", id: "X_KEY", note: "hi" }, undefined,
      { ref: { source: "env", provider: "default", id: "X_KEY" }, legacy: true }],
    ["${NAME} string", "${OPENAI_API_KEY}", undefined,
      { ref: { source: "env", provider: "default", id: "OPENAI_API_KEY" }, legacy: false }],
    ["${NAME} string uses defaults.env", "${OPENAI_API_KEY}", defaults,
      { ref: { source: "env", provider: "envmain", id: "OPENAI_API_KEY" }, legacy: false }],
    ["plain string", "sk-abc", undefined, null],
    ["lower-case template", "${openai_key}", undefined, null],
    ["template with text around", "Bearer ${TOKEN}", undefined, null],
    ["escaped template", "$${TOKEN}", undefined, null],
    ["number", 42, undefined, null],
    ["null", null, undefined, null],
    ["array", [{ source: "env", id: "X" }], undefined, null],
    ["object without id", { source: "env", provider: "default" }, undefined, null],
    ["object without source", { provider: "default", id: "X" }, undefined, null],
    ["bad alias", { source: "env", provider: "Default", id: "X" }, undefined, { error: 'Invalid secret provider alias "Default"' }],
    ["alias too long", { source: "env", provider: "a".repeat(65), id: "X" }, undefined,
      { error: `Invalid secret provider alias "${"a".repeat(65)}"` }],
    ["bad env id", { source: "env", provider: "default", id: "openai_key" }, undefined, { error: ENV_ID_ERROR }],
    ["bad file id", { source: "file", provider: "f", id: "providers/openai" }, undefined, { error: FILE_ID_ERROR }],
    ["bad exec id", { source: "exec", provider: "v", id: "a/../b" }, undefined, { error: EXEC_ID_ERROR }],
    ["unknown source", { source: "vault", provider: "v", id: "x" }, undefined,
      { error: 'Invalid secret reference source "vault" (expected "env", "file" or "exec").' }],
    ["provider plus extra keys", { source: "env", provider: "default", id: "X", extra: 1 }, undefined,
      { error: 'Secret reference has unexpected key "extra" (allowed: "source", "provider", "id").' }],
    ["non-string id", { source: "env", provider: "default", id: 5 }, undefined, { error: ENV_ID_ERROR }],
  ];
  test.each(cases)("%s", (_name, input, defs, want) => {
    expect(coerceSecretRef(input, defs)).toEqual(want);
  });

  test("isSecretRefShaped agrees with coerceSecretRef", () => {
    for (const [, input, defs] of cases) expect(isSecretRefShaped(input)).toBe(coerceSecretRef(input, defs) !== null);
  });

  test("the returned ref is a copy, not the config's object", () => {
    const input = { source: "env", provider: "default", id: "X" };
    const out = coerceSecretRef(input);
    expect(out && "ref" in out && out.ref).not.toBe(input);
  });
});

describe("validateSecretRef (06 §2 validation table)", () => {
  const ref = (source: SecretRef["source"], id: string, provider = "p"): SecretRef => ({ source, provider, id });
  const cases: Array<[SecretRef, string | undefined]> = [
    [ref("env", "A"), undefined],
    [ref("env", "A" + "B".repeat(127)), undefined],
    [ref("env", "A" + "B".repeat(128)), ENV_ID_ERROR],
    [ref("env", "1ABC"), ENV_ID_ERROR],
    [ref("env", "AB-C"), ENV_ID_ERROR],
    [ref("env", ""), ENV_ID_ERROR],
    [ref("file", "value"), undefined],
    [ref("file", "/"), undefined],
    [ref("file", "/a~0b/c~1d/0"), undefined],
    [ref("file", "/a~2b"), FILE_ID_ERROR],
    [ref("file", "/a~"), FILE_ID_ERROR],
    [ref("file", "a/b"), FILE_ID_ERROR],
    [ref("file", "values"), FILE_ID_ERROR],
    [ref("exec", "vault/openai/api-key"), undefined],
    [ref("exec", "a.b:c_d-e/f"), undefined],
    [ref("exec", "a" + "b".repeat(255)), undefined],
    [ref("exec", "a" + "b".repeat(256)), EXEC_ID_ERROR],
    [ref("exec", "/abs"), EXEC_ID_ERROR],
    [ref("exec", "a/./b"), EXEC_ID_ERROR],
    [ref("exec", "a/.."), EXEC_ID_ERROR],
    [ref("exec", "a/..b"), undefined],
    [ref("exec", "a b"), EXEC_ID_ERROR],
    [ref("env", "A", "z"), undefined],
    [ref("env", "A", "a-b_c9"), undefined],
    [ref("env", "A", "9a"), 'Invalid secret provider alias "9a"'],
    [ref("env", "A", ""), 'Invalid secret provider alias ""'],
  ];
  test.each(cases)("%o → %p", (input, want) => {
    expect(validateSecretRef(input)).toBe(want);
  });

  test("the errors are the exact spec texts", () => {
    expect(validateSecretRef(ref("env", "lower"))).toBe('Env secret reference id must match /^[A-Z][A-Z0-9_]{0,127}$/ (example: "OPENAI_API_KEY").');
    expect(validateSecretRef(ref("file", "a/b"))).toBe('File-backed secret ids must be absolute JSON pointers (for example: "/providers/openai/apiKey").');
    expect(validateSecretRef(ref("exec", "a/../b"))).toBe(
      'Exec secret reference id must match /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/ and must not include "." or ".." path segments (example: "vault/openai/api-key").',
    );
  });
});

describe("display and key forms", () => {
  const cases: Array<[SecretRef, string, string]> = [
    [{ source: "exec", provider: "vault", id: "vault/openai/api-key" }, "ref(exec:vault/openai/api-key)", "exec:vault:vault/openai/api-key"],
    [{ source: "env", provider: "default", id: "OPENAI_API_KEY" }, "ref(env:OPENAI_API_KEY)", "env:default:OPENAI_API_KEY"],
    [{ source: "file", provider: "filemain", id: "/a/b" }, "ref(file:/a/b)", "file:filemain:/a/b"],
  ];
  test.each(cases)("%o", (ref, display, key) => {
    expect(refDisplay(ref)).toBe(display);
    expect(refKey(ref)).toBe(key);
  });

  test.each([
    ["/a", true],
    ["/", true],
    ["", false],
    ["a", false],
    ["/a~01", true],
    ["/~", false],
  ] as const)("isAbsoluteJsonPointer(%p) = %p", (p, want) => {
    expect(isAbsoluteJsonPointer(p)).toBe(want);
  });
});
