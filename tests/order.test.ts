// Order resolution (spec 03 §8), starting from the worked example.
import { describe, expect, test } from "bun:test";
import type { JarvisConfig } from "../lib/config.ts";
import { listingOrder, resolveOrder } from "../lib/order.ts";
import { interpretStore } from "../lib/store.ts";

const T = 1_795_940_000_000;

/** The worked example's store: a (api_key, lastUsed 50), b (token, never used), c (oauth, cooling until t+300), d (api_key, lastUsed 10). */
function exampleDoc(order?: Record<string, string[]>) {
  return {
    version: 1,
    profiles: {
      a: { type: "api_key", provider: "anthropic", key: "ka" },
      b: { type: "token", provider: "anthropic", token: "tb" },
      c: { type: "oauth", provider: "anthropic", access: "ac", refresh: "rc", expires: T + 86_400_000 },
      d: { type: "api_key", provider: "anthropic", key: "kd" },
      "o:x": { type: "api_key", provider: "openai", key: "ko" },
    },
    ...(order ? { order } : {}),
    usageStats: { a: { lastUsed: 50 }, c: { cooldownUntil: T + 300_000, cooldownReason: "rate_limit" }, d: { lastUsed: 10 } },
  };
}
const ids = (doc: unknown, config: JarvisConfig = {}, model?: string) =>
  resolveOrder("anthropic", interpretStore(doc, "/s/auth-profiles.json"), config, T, model).ids;

describe("worked example", () => {
  test("no explicit order → round robin [b, d, a, c]", () => {
    const r = resolveOrder("anthropic", interpretStore(exampleDoc(), "/s"), {}, T);
    expect(r).toEqual({ ids: ["b", "d", "a", "c"], source: "store-profiles", explicit: false, excluded: [] });
  });
  test("store order [a, c, d] → [a, d, c], b excluded", () => {
    const r = resolveOrder("anthropic", interpretStore(exampleDoc({ anthropic: ["a", "c", "d"] }), "/s"), {}, T);
    expect(r.ids).toEqual(["a", "d", "c"]);
    expect(r.explicit).toBe(true);
    expect(r.excluded).toEqual(["b"]);
  });
  test("after order clear → back to [b, d, a, c]", () => {
    expect(ids(exampleDoc({}))).toEqual(["b", "d", "a", "c"]);
  });
});

describe("base list and filtering", () => {
  const rows: Array<[name: string, doc: unknown, config: JarvisConfig, expected: string[]]> = [
    ["store order key matched after normalisation", exampleDoc({ " Anthropic ": ["d", "a"] }), {}, ["d", "a"]],
    ["config auth.order when the store has none", exampleDoc(), { auth: { order: { anthropic: ["d", "b"] } } }, ["d", "b"]],
    [
      "store order beats config order",
      exampleDoc({ anthropic: ["a"] }),
      { auth: { order: { anthropic: ["d", "b"] } } },
      ["a"],
    ],
    [
      "config auth.profiles ids (round robin)",
      exampleDoc(),
      { auth: { profiles: { a: { provider: "anthropic", mode: "api_key" }, d: { provider: "anthropic", mode: "api_key" } } } },
      ["d", "a"],
    ],
    [
      "drift repair: none of the config ids exist → eligible store profiles",
      exampleDoc(),
      { auth: { profiles: { "anthropic:gone": { provider: "anthropic", mode: "api_key" } } } },
      ["b", "d", "a", "c"],
    ],
    [
      "ineligible and duplicate ids are dropped; other providers' ids too",
      {
        ...exampleDoc({ anthropic: ["a", "a", "x", "o:x", "e", "d"] }),
        profiles: { ...exampleDoc().profiles, e: { type: "token", provider: "anthropic", token: "te", expires: T - 1 } },
      },
      {},
      ["a", "d"],
    ],
    [
      "ties on type and lastUsed: profile id in code-point order, not file order",
      {
        version: 1,
        profiles: {
          "anthropic:z": { type: "api_key", provider: "anthropic", key: "k" },
          "anthropic:default": { type: "api_key", provider: "anthropic", key: "k" },
          "anthropic:B": { type: "api_key", provider: "anthropic", key: "k" },
        },
      },
      {},
      ["anthropic:B", "anthropic:default", "anthropic:z"],
    ],
    [
      "cooling profiles last by unusableUntil, ties by id",
      {
        version: 1,
        profiles: {
          p3: { type: "api_key", provider: "anthropic", key: "k" },
          p2: { type: "api_key", provider: "anthropic", key: "k" },
          p1: { type: "oauth", provider: "anthropic", access: "a", expires: T + 1e9 },
          p0: { type: "api_key", provider: "anthropic", key: "k" },
        },
        usageStats: {
          p3: { cooldownUntil: T + 10 },
          p2: { disabledUntil: T + 5 },
          p1: { cooldownUntil: T + 10 },
        },
      },
      {},
      ["p0", "p2", "p1", "p3"],
    ],
    [
      "explicit order keeps cooling profiles stable by unusableUntil",
      {
        version: 1,
        profiles: {
          p1: { type: "api_key", provider: "anthropic", key: "k" },
          p2: { type: "api_key", provider: "anthropic", key: "k" },
          p3: { type: "api_key", provider: "anthropic", key: "k" },
        },
        order: { anthropic: ["p3", "p1", "p2"] },
        usageStats: { p3: { cooldownUntil: T + 10 }, p1: { cooldownUntil: T + 10 } },
      },
      {},
      ["p2", "p3", "p1"],
    ],
  ];
  test.each(rows)("%s", (_name, doc, config, expected) => {
    expect(ids(doc, config)).toEqual(expected);
  });

  test("a model-scoped cooldown only demotes the profile for that model", () => {
    const doc = {
      version: 1,
      profiles: { p1: { type: "api_key", provider: "anthropic", key: "k" }, p2: { type: "api_key", provider: "anthropic", key: "k" } },
      usageStats: { p1: { cooldownUntil: T + 10, cooldownModel: "m1" } },
    };
    expect(ids(doc, {}, "m1")).toEqual(["p2", "p1"]);
    expect(ids(doc, {}, "m2")).toEqual(["p1", "p2"]);
  });

  test("an explicit order with only cooling profiles still returns them", () => {
    const doc = { ...exampleDoc({ anthropic: ["c"] }) };
    expect(ids(doc)).toEqual(["c"]);
  });
});

describe("listingOrder", () => {
  test("resolved order first (only the provider's ids), then the rest by code point", () => {
    expect(listingOrder(["p:b", "p:A", "p:c", "p:a"], ["p:c", "x:other", "p:a"])).toEqual(["p:c", "p:a", "p:A", "p:b"]);
    expect(listingOrder([], ["p:a"])).toEqual([]);
  });
});
