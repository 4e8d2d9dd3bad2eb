// Profile ids and provider ids that are names of built-in object members (`__proto__`, `toString`, `constructor`)
// are valid per spec 03 §1 / 05 §1; they must be stored, listed, ordered and removed like any other id, and lookups
// must never find an inherited member.
import { afterAll, describe, expect, test } from "bun:test";
import { cleanupSandboxes, expectNoSecrets, sandbox } from "./helpers.ts";

afterAll(cleanupSandboxes);

const SECRET_A = "gsk_PROTOSECRET0000000000";
const SECRET_B = "gsk_CTORSECRET00000000000";

describe("profile ids named like object members", () => {
  test("__proto__ and constructor are stored, listed, ordered and removed; toString is simply not found", async () => {
    const sb = sandbox();
    const a = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--profile-id", "__proto__"], { stdin: SECRET_A });
    const b = await sb.run(["models", "auth", "paste-token", "--provider", "groq", "--profile-id", "constructor"], { stdin: SECRET_B });
    for (const r of [a, b]) {
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain("Replaced existing auth profile");
      expectNoSecrets(r, [SECRET_A, SECRET_B]);
    }
    const store = sb.readStore();
    expect(Object.keys(store.profiles)).toEqual(["__proto__", "constructor"]);
    expect(store.profiles.constructor).toEqual({ type: "token", provider: "groq", token: SECRET_B });
    expect(Object.getOwnPropertyDescriptor(store.profiles, "__proto__")?.value).toEqual({ type: "token", provider: "groq", token: SECRET_A });

    const list = await sb.run(["models", "auth", "list", "--json"]);
    expect(JSON.parse(list.stdout).profiles.map((p: { profileId: string }) => p.profileId)).toEqual(["__proto__", "constructor"]);

    const notFound = await Promise.all([
      sb.run(["models", "auth", "remove", "toString", "--yes"]),
      sb.run(["models", "auth", "order", "set", "--provider", "groq", "toString"]),
      sb.run(["models", "auth", "refresh", "--profile-id", "valueOf"]),
    ]);
    for (const r of notFound) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Auth profile "(toString|valueOf)" not found in /);
      expect(r.stderr).not.toContain("unexpected failure");
    }

    const order = await sb.run(["models", "auth", "order", "set", "--provider", "groq", "constructor", "__proto__"]);
    expect(order.code).toBe(0);
    expect(order.stdout).toContain("Order override: constructor, __proto__");
    const rm = await sb.run(["models", "auth", "remove", "__proto__", "--yes"]);
    expect(rm.code).toBe(0);
    const after = sb.readStore();
    expect(Object.keys(after.profiles)).toEqual(["constructor"]);
    expect(after.order.groq).toEqual(["constructor"]);
  });

  test("doctor --fix migrates a store that holds a profile named __proto__ without losing it", async () => {
    const sb = sandbox();
    sb.writeStore({
      version: 1,
      profiles: JSON.parse(
        `{"__proto__": {"type": "api_key", "provider": "groq", "key": "${SECRET_A}"}, "groq:b": {"mode": "api_key", "provider": "groq", "key": "${SECRET_B}"}}`,
      ),
    });
    const r = await sb.run(["doctor", "--fix", "--json"]);
    const codes = JSON.parse(r.stdout).findings.map((f: { code: string; fixed?: boolean }) => `${f.code}${f.fixed ? " fixed" : ""}`);
    expect(codes).toContain("store.alias_fields fixed");
    expect(codes).not.toContain("doctor.migration_failed");
    const store = sb.readStore();
    expect(Object.keys(store.profiles)).toEqual(["__proto__", "groq:b"]);
    expect(Object.getOwnPropertyDescriptor(store.profiles, "__proto__")?.value).toEqual({ type: "api_key", provider: "groq", key: SECRET_A });
    expect(store.profiles["groq:b"]).toEqual({ type: "api_key", provider: "groq", key: SECRET_B });
  });

  test("a provider id named constructor passes the provider rule (05 §1)", async () => {
    const sb = sandbox();
    const r = await sb.run(["models", "auth", "order", "get", "--provider", "constructor", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ provider: "constructor", order: null, configOrder: null, effectiveOrder: [] });
  });
});
