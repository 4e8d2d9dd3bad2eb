// The pure parts of doctor (spec 09 §1): entry canonicalisation and the store repair plan (tables), migration
// verification, legacy import planning, check isolation (`doctor.check_failed`), the two-pass merge, text rendering.
import { describe, expect, test } from "bun:test";
import { canonicalEntry, entryDifference, fileStamp, planLegacyImport, planStoreRepair, storeDifference } from "../lib/doctor-repair.ts";
import { mergePasses, runChecks, summarize, type DoctorData, type Finding } from "../lib/doctor.ts";
import { renderDoctorText } from "../lib/doctor-cmd.ts";

const ref = { source: "env", provider: "default", id: "K" };

describe("canonicalEntry", () => {
  const rows: Array<[string, Record<string, unknown>, Record<string, unknown>, string[]]> = [
    ["mode→type in place", { provider: "p", mode: "token", token: "t" }, { provider: "p", type: "token", token: "t" }, ["mode→type"]],
    ["type wins over mode (both kept)", { type: "token", mode: "api_key", provider: "p", token: "t" }, { type: "token", mode: "api_key", provider: "p", token: "t" }, []],
    ["apiKey→key", { type: "api_key", provider: "p", apiKey: "k" }, { type: "api_key", provider: "p", key: "k" }, ["apiKey→key"]],
    ["key wins over apiKey (both kept)", { type: "api_key", provider: "p", key: "k", apiKey: "old" }, { type: "api_key", provider: "p", key: "k", apiKey: "old" }, []],
    ["type api-key", { type: "api-key", provider: "p", key: "k" }, { type: "api_key", provider: "p", key: "k" }, ["type api-key→api_key"]],
    ["type apikey", { type: "apikey", provider: "p", key: "k" }, { type: "api_key", provider: "p", key: "k" }, ["type apikey→api_key"]],
    ["unknown fields and refs kept", { type: "api_key", provider: "p", keyRef: ref, metadata: { a: "b" }, x: [1] }, { type: "api_key", provider: "p", keyRef: ref, metadata: { a: "b" }, x: [1] }, []],
  ];
  test.each(rows)("%s", (_name, input, output, aliases) => {
    const r = canonicalEntry(input);
    expect(r.entry).toEqual(output);
    expect(Object.keys(r.entry as object)).toEqual(Object.keys(output));
    expect(r.changes.aliases).toEqual(aliases);
  });

  test.each([
    [999_999_999, undefined],
    [1_000_000_000, 1_000_000_000_000],
    [99_999_999_999, 99_999_999_999_000],
    [100_000_000_000, undefined],
  ])("expires %p → %p (token/oauth only)", (expires, fixed) => {
    const r = canonicalEntry({ type: "token", provider: "p", token: "t", expires });
    expect((r.entry as any).expires).toBe(fixed ?? expires);
    expect(r.changes.expiresFrom).toBe(fixed === undefined ? undefined : expires);
    expect((canonicalEntry({ type: "api_key", provider: "p", key: "k", expires }).entry as any).expires).toBe(expires);
  });

  test("the plaintext copy is dropped only next to a valid ref", () => {
    expect(canonicalEntry({ type: "api_key", provider: "p", key: "k", keyRef: ref })).toEqual({ entry: { type: "api_key", provider: "p", keyRef: ref }, changes: { aliases: [], dropped: "key" } });
    expect(canonicalEntry({ type: "token", provider: "p", token: "t", tokenRef: "${K}" }).changes.dropped).toBe("token");
    expect(canonicalEntry({ type: "api_key", provider: "p", key: "k", keyRef: { source: "env", id: "bad id" } }).changes.dropped).toBeUndefined();
  });
});

describe("planStoreRepair", () => {
  test("a canonical store plans nothing (second --fix writes nothing)", () => {
    const doc = { version: 1, profiles: { "a:b": { type: "api_key", provider: "a", key: "k" } }, order: { a: ["a:b"] }, extra: 1 };
    expect(planStoreRepair(doc, false).next).toBeUndefined();
  });

  test("legacy flat: provider keys become <p>:default without overwriting an explicit one", () => {
    const doc = { "anthropic:default": { type: "api_key", provider: "anthropic", key: "k1" }, anthropic: { type: "api_key", key: "k2" } };
    const plan = planStoreRepair(doc, true);
    expect(plan.next).toEqual({
      version: 1,
      profiles: { "anthropic:default": { type: "api_key", provider: "anthropic", key: "k1" }, "anthropic:default-2": { provider: "anthropic", type: "api_key", key: "k2" } },
    });
    expect(storeDifference(doc, plan, plan.next!)).toBeUndefined();
  });

  test("order: unknown and other-provider ids removed, empty lists and an empty order deleted, non-lists kept", () => {
    const doc = { version: 1, profiles: { "a:1": { type: "api_key", provider: "a", key: "k" } }, order: { a: ["a:1", "x:9"], b: ["a:1"], c: "odd" } };
    const plan = planStoreRepair(doc, false);
    expect(plan.next!.order).toEqual({ a: ["a:1"], c: "odd" });
    expect(plan.orderRemoved).toEqual({ a: ["x:9"], b: ["a:1"] });
  });
});

describe("verification", () => {
  test("a lost or changed field is a difference", () => {
    const before = { version: 1, profiles: { "a:1": { type: "oauth", provider: "a", access: "x", expires: 1_900_000_000, clientId: "c", idToken: "i" } } };
    const plan = planStoreRepair(before, false);
    expect(storeDifference(before, plan, plan.next!)).toBeUndefined();
    const lost = structuredClone(plan.next!);
    delete lost.profiles["a:1"].clientId;
    expect(storeDifference(before, plan, lost)).toBe("a:1.clientId differs after the migration");
    const wrong = structuredClone(plan.next!);
    wrong.profiles["a:1"].expires = 1_900_000_000;
    expect(storeDifference(before, plan, wrong)).toBe("a:1.expires differs after the migration");
    expect(entryDifference("a:1", { mode: "token", provider: "a" }, { type: "token", provider: "a" }, { aliases: ["mode→type"] })).toBeUndefined();
  });

  test("top-level keys of a v1 store must survive", () => {
    const before = { version: 1, profiles: { "a:1": { mode: "api_key", provider: "a", key: "k" } }, lastGood: { a: "a:1" } };
    const plan = planStoreRepair(before, false);
    expect(storeDifference(before, plan, { ...plan.next!, lastGood: {} })).toBe("lastGood differs after the migration");
  });
});

describe("planLegacyImport", () => {
  test("auth.json: <provider>:default where free, type inferred, ids with ':' kept, non-objects skipped", () => {
    const plan = planLegacyImport({ groq: { apiKey: "g" }, "openai:work": { type: "api_key", key: "o" }, anthropic: { key: "a" }, bad: 5 }, "auth_json", new Set(["anthropic:default"]));
    expect(plan).toEqual([
      { source: "groq", profileId: "groq:default", entry: { type: "api_key", key: "g", provider: "groq" }, changes: { aliases: ["apiKey→key"] } },
      { source: "openai:work", profileId: "openai:work", entry: { type: "api_key", key: "o", provider: "openai" }, changes: { aliases: [] } },
      { source: "anthropic", profileId: "anthropic:default", skipped: "id already in the store" },
      { source: "bad", profileId: "bad:default", skipped: "not an object" },
    ]);
  });

  test("oauth.json entries become type oauth", () => {
    expect(planLegacyImport({ google: { access: "a", refresh: "r", expires: 2e12 } }, "oauth_json", new Set())[0]!.entry).toEqual({ type: "oauth", access: "a", refresh: "r", expires: 2e12, provider: "google" });
  });

  test("fileStamp is YYYYMMDDTHHMMSSZ in UTC", () => {
    expect(fileStamp(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe("20260102T030405Z");
  });
});

describe("running checks and reporting", () => {
  test("an exception in a check becomes doctor.check_failed naming it; the other checks still run", () => {
    const broken = { files: undefined, env: { warnings: [], vars: new Map() } } as unknown as DoctorData;
    const findings = runChecks(broken);
    const failed = findings.filter((f) => f.code === "doctor.check_failed");
    expect(failed.length).toBeGreaterThan(1);
    expect(failed[0]).toMatchObject({ severity: "error", autoFix: false });
    expect(failed.map((f) => f.message.match(/^check "([a-z-]+)" failed: /)?.[1])).toContain("dirs");
  });

  const f = (code: string, severity: Finding["severity"], extra: Partial<Finding> = {}): Finding => ({ code, severity, message: code, autoFix: false, ...extra });

  test("mergePasses: repaired → fixed (with backup), gone → fixed, failed repair → kept (with the backup it took), new in pass 2 → added", () => {
    const first = [
      f("a.x", "warn", { autoFix: true, path: "/p" }),
      f("b.y", "info"),
      f("c.z", "warn", { autoFix: true, profileId: "i" }),
      f("d.w", "error"),
      f("f.u", "warn", { autoFix: true, profileId: "j" }),
    ];
    const second = [f("d.w", "error"), f("e.v", "error", { profileId: "i" })];
    const keyA = ["a.x", "/p", "", "", ""].join("\0");
    const keyC = ["c.z", "", "i", "", ""].join("\0");
    const keyF = ["f.u", "", "j", "", ""].join("\0");
    const merged = mergePasses(first, second, new Map([[keyA, "/p.bak-1"]]), new Map([[keyC, undefined], [keyF, "/s.bak-1"]]));
    expect(merged.map((x) => [x.code, x.fixed ?? false, x.backup ?? null])).toEqual([
      ["d.w", false, null],
      ["e.v", false, null],
      ["a.x", true, "/p.bak-1"],
      ["c.z", false, null],
      ["f.u", false, "/s.bak-1"],
      ["b.y", true, null],
    ]);
    expect(summarize(merged)).toEqual({ error: 2, warn: 2, info: 0, fixed: 2 });
  });

  test("text: FIXED label and backup line under --fix; plural forms", () => {
    const lines = renderDoctorText("main", "~/.jarvis/agents/main/agent", [f("store.legacy_flat", "warn", { autoFix: true, fixed: true, fix: "migrate it", backup: "/s.bak-1" }), f("store.id_provider_mismatch", "info", { fix: "rename" })], true);
    expect(lines).toEqual([
      "jarvis doctor — agent main (~/.jarvis/agents/main/agent)",
      "FIXED  store.legacy_flat       store.legacy_flat",
      "       fix: migrate it",
      "       backup: /s.bak-1",
      "INFO   store.id_provider_mismatch store.id_provider_mismatch",
      "       fix: rename",
      "Summary: 0 errors, 0 warnings, 1 info. 1 fixed.",
    ]);
    expect(renderDoctorText("w", "/a", [], false)).toEqual(["jarvis doctor — agent w (/a)", "No problems found.", "Summary: 0 errors, 0 warnings, 0 info."]);
  });
});
