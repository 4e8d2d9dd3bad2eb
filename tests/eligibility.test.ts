// Expiry state, credential eligibility and profile eligibility (spec 03 §6).
import { describe, expect, test } from "bun:test";
import type { JarvisConfig } from "../lib/config.ts";
import { credentialEligibility, expiryState, profileEligibility, SECONDS_HINT } from "../lib/eligibility.ts";
import { interpretStore, type Profile, type UsageStats } from "../lib/store.ts";

const NOW = 1_795_940_000_000;

describe("expiryState", () => {
  const rows: Array<[name: string, expires: unknown, state: string, hint?: string]> = [
    ["absent", undefined, "none"],
    ["a string is not coerced", String(NOW + 1000), "invalid_expires"],
    ["null", null, "invalid_expires"],
    ["NaN", NaN, "invalid_expires"],
    ["+Infinity", Infinity, "invalid_expires"],
    ["-Infinity", -Infinity, "invalid_expires"],
    ["0", 0, "invalid_expires"],
    ["negative", -5, "invalid_expires"],
    ["above 8.64e15", 8.64e15 + 1, "invalid_expires"],
    ["8.64e15 itself is a valid ms time", 8.64e15, "valid"],
    ["1 looks like seconds", 1, "invalid_expires", SECONDS_HINT],
    ["epoch seconds of NOW", NOW / 1000, "invalid_expires", SECONDS_HINT],
    ["just below 1e11", 1e11 - 1, "invalid_expires", SECONDS_HINT],
    ["1e11 is milliseconds (long past)", 1e11, "expired"],
    ["now == expires counts as expired", NOW, "expired"],
    ["one ms after now", NOW + 1, "valid"],
    ["one ms before now", NOW - 1, "expired"],
  ];
  // Rest parameters: with fewer declared parameters than a row has, bun would not append a `done` callback.
  test.each(rows)("%s", (...[, expires, state, hint]) => {
    const r = expiryState(expires, NOW);
    expect(r.state).toBe(state as never);
    expect(r.hint).toBe(hint);
  });
  test("the hint a seconds-looking expires gets is the spec's text (D7)", () => {
    expect(expiryState(NOW / 1000, NOW).hint).toBe("looks like seconds; expected epoch milliseconds");
  });
});

const envRef = { source: "env", provider: "default", id: "SOME_KEY" };

describe("credentialEligibility", () => {
  const rows: Array<[name: string, profile: Partial<Profile>, stats: UsageStats | undefined, expected: object]> = [
    ["api_key with key", { type: "api_key", key: "k" }, undefined, { eligible: true }],
    ["api_key with keyRef only", { type: "api_key", keyRef: envRef }, undefined, { eligible: true }],
    ["api_key with blank key", { type: "api_key", key: "  " }, undefined, { eligible: false, reasonCode: "missing_credential" }],
    ["api_key with nothing", { type: "api_key" }, undefined, { eligible: false, reasonCode: "missing_credential" }],
    ["api_key with an invalid keyRef", { type: "api_key", keyRef: { source: "env", id: "lower" } }, undefined, { eligible: false, reasonCode: "missing_credential" }],
    ["token, static", { type: "token", token: "t" }, undefined, { eligible: true }],
    ["token, valid", { type: "token", token: "t", expires: NOW + 1 }, undefined, { eligible: true }],
    ["token, expired", { type: "token", token: "t", expires: NOW }, undefined, { eligible: false, reasonCode: "expired" }],
    ["token, seconds", { type: "token", token: "t", expires: 1_800_000_000 }, undefined, { eligible: false, reasonCode: "invalid_expires", hint: SECONDS_HINT }],
    ["token, ref does not bypass expiry", { type: "token", tokenRef: envRef, expires: NOW - 1 }, undefined, { eligible: false, reasonCode: "expired" }],
    ["token, blank", { type: "token", token: "" }, undefined, { eligible: false, reasonCode: "missing_credential" }],
    ["oauth, valid", { type: "oauth", access: "a", expires: NOW + 1 }, undefined, { eligible: true }],
    ["oauth, only refresh, valid", { type: "oauth", refresh: "r", expires: NOW + 1 }, undefined, { eligible: true }],
    ["oauth, no tokens", { type: "oauth", expires: NOW + 1 }, undefined, { eligible: false, reasonCode: "missing_credential" }],
    ["oauth, no expires", { type: "oauth", access: "a" }, undefined, { eligible: false, reasonCode: "invalid_expires" }],
    ["oauth, seconds", { type: "oauth", access: "a", expires: 1_800_000_000 }, undefined, { eligible: false, reasonCode: "invalid_expires", hint: SECONDS_HINT }],
    ["oauth, expired + refresh (refreshed on use)", { type: "oauth", access: "a", refresh: "r", expires: NOW - 1 }, undefined, { eligible: true }],
    ["oauth, expired, no refresh", { type: "oauth", access: "a", expires: NOW - 1 }, undefined, { eligible: false, reasonCode: "expired" }],
    [
      "oauth, expired + refresh + needsRelogin",
      { type: "oauth", access: "a", refresh: "r", expires: NOW - 1 },
      { needsRelogin: { reason: "invalid_grant", at: NOW - 5 } },
      { eligible: false, reasonCode: "relogin_required" },
    ],
    [
      "oauth, expired external (source re-read on use)",
      { type: "oauth", access: "a", expires: NOW - 1, external: { source: "codex", path: "/x/auth.json" } },
      undefined,
      { eligible: true },
    ],
  ];
  test.each(rows)("%s", (_name, profile, stats, expected) => {
    const p = { provider: "anthropic", ...profile } as Profile;
    // toEqual treats an `undefined` hint like an absent one.
    expect(credentialEligibility(p, stats, NOW)).toEqual(expected as never);
  });
});

describe("profileEligibility", () => {
  const store = interpretStore(
    {
      version: 1,
      profiles: {
        "anthropic:a": { type: "api_key", provider: "Anthropic", key: "k" },
        "anthropic:t": { type: "token", provider: "anthropic", token: "t" },
        "anthropic:tr": { type: "token", provider: "anthropic", tokenRef: envRef },
        "anthropic:bad": { type: "weird", provider: "anthropic" },
        "volc:x": { type: "api_key", provider: "volcengine-plan", key: "k" },
      },
    },
    "/s/auth-profiles.json",
  );
  const config: JarvisConfig = {
    auth: {
      profiles: {
        "anthropic:a": { provider: "anthropic", mode: "token" },
        "anthropic:t": { provider: "anthropic", mode: "oauth" },
        "anthropic:tr": { provider: "anthropic", mode: "oauth" },
      },
    },
  };
  const rows: Array<[id: string, provider: string, cfg: JarvisConfig, expected: object]> = [
    ["anthropic:none", "anthropic", {}, { eligible: false, reasonCode: "profile_missing" }],
    ["anthropic:bad", "anthropic", {}, { eligible: false, reasonCode: "invalid_profile" }],
    ["anthropic:a", "openai", {}, { eligible: false, reasonCode: "provider_mismatch" }],
    ["anthropic:a", "anthropic", {}, { eligible: true }], // provider compared after normalisation
    ["anthropic:a", "anthropic", config, { eligible: false, reasonCode: "mode_mismatch" }],
    ["anthropic:t", "anthropic", config, { eligible: true }], // config oauth accepts a stored token without tokenRef
    ["anthropic:tr", "anthropic", config, { eligible: false, reasonCode: "mode_mismatch" }],
    [
      "anthropic:t",
      "anthropic",
      { auth: { profiles: { "anthropic:t": { provider: "openai", mode: "token" } } } },
      { eligible: false, reasonCode: "mode_mismatch" },
    ],
    ["volc:x", "volcengine", {}, { eligible: true }], // auth alias volcengine-plan → volcengine
  ];
  test.each(rows)("%s for %s", (id, provider, cfg, expected) => {
    expect(profileEligibility(id, provider, store, cfg, NOW)).toEqual(expected as never);
  });
});
