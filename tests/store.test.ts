// Per-entry store validation (spec 03 §2): aliases and every invalid-entry reason code, as a table.
import { describe, expect, test } from "bun:test";
import { interpretStore, validateProfileEntry } from "../lib/store.ts";

const ref = { source: "env", provider: "default", id: "SOME_KEY" };

describe("validateProfileEntry: invalid entries", () => {
  const rows: Array<[name: string, id: string, entry: unknown, reason: string, detail?: string]> = [
    ["string entry", "a:b", "sk-TESTFAKE", "non_object", "entry is not an object"],
    ["array entry", "a:b", [], "non_object"],
    ["null entry", "a:b", null, "non_object"],
    ["unknown type", "a:b", { type: "weird", provider: "a" }, "invalid_type", 'type "weird" is not one of api_key, token, oauth'],
    ["no type", "a:b", { provider: "a", key: "k" }, "invalid_type", "type null is not one of api_key, token, oauth"],
    ["blank provider", "a:b", { type: "api_key", provider: " ", key: "k" }, "missing_provider"],
    ["no provider", "a:b", { type: "token", token: "t" }, "missing_provider"],
    ["key of the wrong type", "a:b", { type: "api_key", provider: "a", key: 5 }, "invalid_field", "/key: expected string"],
    ["token of the wrong type", "a:b", { type: "token", provider: "a", token: ["t"] }, "invalid_field", "/token: expected string"],
    ["email of the wrong type", "a:b", { type: "oauth", provider: "a", access: "x", expires: 1e12, email: 1 }, "invalid_field", "/email: expected string"],
    ["oauth with tokenRef", "a:b", { type: "oauth", provider: "a", access: "x", tokenRef: ref }, "oauth_with_ref"],
    ["oauth with a ref object as access", "a:b", { type: "oauth", provider: "a", access: ref }, "oauth_with_ref"],
    ["oauth with a ${NAME} string as refresh", "a:b", { type: "oauth", provider: "a", access: "x", refresh: "${REFRESH_TOKEN}" }, "oauth_with_ref"],
    ["id with whitespace", "a b", { type: "api_key", provider: "a", key: "k" }, "invalid_id"],
    ["id with a slash", "a/b", { type: "api_key", provider: "a", key: "k" }, "invalid_id"],
    ["id with a control character", "a\u0001b", { type: "api_key", provider: "a", key: "k" }, "invalid_id"],
    ["empty id", "", { type: "api_key", provider: "a", key: "k" }, "invalid_id"],
    ["id of 129 chars", "a".repeat(129), { type: "api_key", provider: "a", key: "k" }, "invalid_id"],
  ];
  test.each(rows)("%s", (...[, id, entry, reason, detail]) => {
    const r = validateProfileEntry(id, entry);
    expect("invalid" in r).toBe(true);
    if (!("invalid" in r)) return;
    expect(r.invalid.reason).toBe(reason as never);
    expect(r.invalid.profileId).toBe(id);
    if (detail !== undefined) expect(r.invalid.detail).toBe(detail);
  });
});

describe("validateProfileEntry: valid entries and aliases", () => {
  const rows: Array<[name: string, entry: Record<string, unknown>, type: string, aliases: string[]]> = [
    ["canonical api_key", { type: "api_key", provider: "a", key: "k" }, "api_key", []],
    ["mode → type", { mode: "token", provider: "a", token: "t" }, "token", ["mode→type"]],
    ["type apiKey → api_key", { type: "apiKey", provider: "a", key: "k" }, "api_key", ["type apiKey→api_key"]],
    ["type api-key → api_key", { type: "api-key", provider: "a", key: "k" }, "api_key", ["type api-key→api_key"]],
    ["apiKey → key", { type: "api_key", provider: "a", apiKey: "k" }, "api_key", ["apiKey→key"]],
    ["canonical fields win over aliases", { type: "oauth", mode: "token", provider: "a", access: "x", expires: 1e12 }, "oauth", []],
    ["unknown fields are kept", { type: "api_key", provider: "a", key: "k", note: { any: 1 } }, "api_key", []],
    ["invalid expires does not make the entry invalid", { type: "token", provider: "a", token: "t", expires: "soon" }, "token", []],
    ["a 128-char id is fine", { type: "api_key", provider: "a", key: "k" }, "api_key", []],
  ];
  test.each(rows)("%s", (...[name, entry, type, aliases]) => {
    const id = name.startsWith("a 128") ? "a".repeat(128) : "p:1";
    const r = validateProfileEntry(id, entry);
    expect("profile" in r).toBe(true);
    if (!("profile" in r)) return;
    expect(r.profile.type).toBe(type as never);
    expect(r.aliases).toEqual(aliases);
    for (const [k, v] of Object.entries(entry)) if (k !== "type") expect(r.profile[k]).toEqual(v);
  });

  test("the apiKey alias fills key; an existing key wins", () => {
    const r = validateProfileEntry("p:1", { type: "api_key", provider: "a", key: "canonical", apiKey: "alias" });
    expect("profile" in r && r.profile.key).toBe("canonical");
  });
});

describe("interpretStore: order and usageStats sanitising", () => {
  test("order lists are trimmed, de-duplicated, non-strings and non-arrays dropped (with a warning)", () => {
    const s = interpretStore({ version: 1, profiles: {}, order: { a: [" x ", "x", 5, "", "y"], b: "x" } }, "/s");
    expect(s.order).toEqual({ a: ["x", "y"] });
    expect(s.warnings.map((w) => w.code)).toEqual(["order_invalid"]);
  });
  test("non-finite numeric usageStats fields are treated as absent; non-object entries ignored", () => {
    const s = interpretStore(
      { version: 1, profiles: {}, usageStats: { a: { cooldownUntil: "5", disabledUntil: null, lastUsed: 7, errorCount: NaN }, b: 3 } },
      "/s",
    );
    expect(s.usageStats).toEqual({ a: { lastUsed: 7 } });
  });
  test("a missing version is read as 1 with a warning", () => {
    const s = interpretStore({ profiles: {} }, "/s/auth-profiles.json");
    expect(s.status).toBe("ok");
    expect(s.warnings).toHaveLength(1);
  });
});
