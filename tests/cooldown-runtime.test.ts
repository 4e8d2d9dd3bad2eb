// Cooldown and disable windows as the runtime records them (spec 03 §5, §7; 07 §6): store-level markFailure /
// markSuccess over whole documents with a fixed clock, and recordOutcome against a real store file. The pure math
// and the worked table are in cooldown.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isInCooldown } from "../lib/cooldown.ts";
import { recordOutcome, type RuntimeContext } from "../lib/runtime.ts";
import { markFailure, markSuccess } from "../lib/store-write.ts";

const S = 1000;
const MIN = 60_000;
const H = 3_600_000;
const T0 = 1_795_900_000_000;
const at = (ms: number) => T0 + ms;

type Doc = Record<string, any>;

function doc(provider = "anthropic", id = `${provider}:p`): Doc {
  return { version: 1, profiles: { [id]: { type: "api_key", provider, key: "k-TESTFAKE-0123456789" } } };
}

/** Apply failures in order to one profile; return the stats after each step. */
function run(d: Doc, steps: Array<[t: number, reason: string, model?: string]>, id = "anthropic:p", config = {}) {
  return steps.map(([t, reason, model]) => {
    markFailure(d, id, reason, at(t), config, model);
    return structuredClone(d.usageStats?.[id]);
  });
}

describe("transient cooldown 1 m → 5 m → 25 m → 60 m (escalation only while another window is active)", () => {
  test("fresh profile: 1 m", () => {
    const [s] = run(doc(), [[0, "rate_limit", "claude-x"]]);
    expect(s).toEqual({ errorCount: 1, failureCounts: { rate_limit: 1 }, lastFailureAt: at(0), cooldownUntil: at(MIN), cooldownReason: "rate_limit", cooldownModel: "claude-x" });
  });

  test("under a billing disable each new window is the next step, capped at 60 m; after every window ends it starts again at 1 m", () => {
    const steps: Array<[number, string]> = [
      [0, "billing"],
      [10 * S, "unknown"],
      [320 * S, "unknown"],
      [1830 * S, "unknown"],
      [5440 * S, "unknown"],
      [5 * H + S, "unknown"],
    ];
    const out = run(doc(), steps);
    expect(out[0]).toMatchObject({ errorCount: 1, disabledUntil: at(5 * H), disabledReason: "billing" });
    expect(out.slice(1).map((s) => [s.errorCount, s.cooldownUntil - s.lastFailureAt])).toEqual([
      [2, 5 * MIN],
      [3, 25 * MIN],
      [4, 60 * MIN],
      [5, 60 * MIN],
      // The disable ended at 5 h and the last cooldown at 5440 s + 60 m: counters reset.
      [1, MIN],
    ]);
    expect(out[4]!.disabledUntil).toBe(at(5 * H));
    expect(out[5]!.disabledUntil).toBeUndefined();
    expect(out[5]!.failureCounts).toEqual({ unknown: 1 });
  });

  test("a retry inside an active window counts but never extends it; the window ends exactly at its end", () => {
    const d = doc();
    const out = run(d, [
      [0, "rate_limit", "claude-x"],
      [10 * S, "rate_limit", "claude-x"],
      [30 * S, "overloaded"],
      [MIN - 1, "auth"],
    ]);
    for (const s of out) expect(s.cooldownUntil).toBe(at(MIN));
    expect(out.map((s) => s.errorCount)).toEqual([1, 2, 3, 4]);
    expect(out.at(-1)!.cooldownReason).toBe("auth");
    // A failure for no particular model widens the model-scoped window to the profile.
    expect(out[1]!.cooldownModel).toBe("claude-x");
    expect(out[2]!.cooldownModel).toBeUndefined();
    expect(isInCooldown(d.usageStats["anthropic:p"], "anthropic", at(MIN - 1), "other-model")).toBe(true);
    expect(isInCooldown(d.usageStats["anthropic:p"], "anthropic", at(MIN), undefined)).toBe(false);
    // now >= until: the window has ended → reset, a fresh 1 m window.
    const [after] = run(d, [[MIN, "rate_limit"]]);
    expect(after).toMatchObject({ errorCount: 1, failureCounts: { rate_limit: 1 }, cooldownUntil: at(2 * MIN) });
  });

  test("success clears everything; the next failure starts again at 1 m", () => {
    const d = doc();
    run(d, [
      [0, "billing"],
      [10 * S, "unknown"],
      [320 * S, "unknown"],
    ]);
    expect(markSuccess(d, "anthropic:p", "anthropic", at(400 * S))).toBe(true);
    expect(d.usageStats["anthropic:p"]).toEqual({ lastUsed: at(400 * S), errorCount: 0, lastFailureAt: at(320 * S) });
    expect(d.lastGood).toEqual({ anthropic: "anthropic:p" });
    const [next] = run(d, [[401 * S, "rate_limit"]]);
    expect(next).toMatchObject({ errorCount: 1, failureCounts: { rate_limit: 1 }, cooldownUntil: at(401 * S + MIN), lastUsed: at(400 * S) });
    expect(next.disabledUntil).toBeUndefined();
  });
});

describe("disable windows", () => {
  test("billing 5 h → 10 h → 20 h → 24 h (each step while another window outlives the disable), never extended", () => {
    const steps: Array<[number, string]> = [
      [0, "billing"],
      [4 * H + 59 * MIN, "unknown"], // cooldown 5 m, until 5 h 04 m
      [5 * H + MIN, "billing"], // disable ended at 5 h, cooldown still active → no reset
      [15 * H, "unknown"], // cooldown 60 m (errorCount 4)
      [15 * H + 2 * MIN, "billing"],
      [35 * H, "unknown"],
      [35 * H + 3 * MIN, "billing"],
      [35 * H + 4 * MIN, "billing"], // retry while disabled
    ];
    const out = run(doc(), steps);
    const billing = [0, 2, 4, 6, 7].map((i) => out[i]!);
    expect(billing.map((s) => s.failureCounts.billing)).toEqual([1, 2, 3, 4, 5]);
    expect(billing.map((s) => s.disabledUntil - s.lastFailureAt)).toEqual([5 * H, 10 * H, 20 * H, 24 * H, 24 * H - MIN]);
    expect(out[7]!.disabledUntil).toBe(out[6]!.disabledUntil);
    for (const s of billing) expect(s.disabledReason).toBe("billing");
  });

  test("auth_permanent 10 m → 20 m → 40 m → 60 m, then back to 10 m once every window ended", () => {
    const steps: Array<[number, string]> = [
      [0, "auth_permanent"],
      [9 * MIN, "unknown"], // cooldown 5 m until 14 m
      [11 * MIN, "auth_permanent"], // 20 m until 31 m
      [30 * MIN, "unknown"], // cooldown 60 m until 90 m (errorCount 4)
      [32 * MIN, "auth_permanent"], // 40 m until 72 m
      [73 * MIN, "auth_permanent"], // 60 m until 133 m
      [134 * MIN, "auth_permanent"], // everything ended → reset
    ];
    const out = run(doc(), steps);
    const perm = [0, 2, 4, 5, 6].map((i) => out[i]!);
    expect(perm.map((s) => s.disabledUntil - s.lastFailureAt)).toEqual([10 * MIN, 20 * MIN, 40 * MIN, 60 * MIN, 10 * MIN]);
    expect(perm.map((s) => s.errorCount)).toEqual([1, 3, 5, 6, 1]);
  });

  test("billingBackoffHoursByProvider matches the normalised provider of the profile", () => {
    const d = doc("Anthropic", "anthropic:p");
    const [s] = run(d, [[0, "billing"]], "anthropic:p", { auth: { cooldowns: { billingBackoffHoursByProvider: { anthropic: 2 }, billingMaxHours: 3 } } });
    expect(s.disabledUntil).toBe(at(2 * H));
  });

  test("success clears an active disable at once and sets lastGood", () => {
    const d = doc();
    run(d, [[0, "billing"]]);
    markSuccess(d, "anthropic:p", "anthropic", at(MIN));
    expect(d.usageStats["anthropic:p"]).toEqual({ lastUsed: at(MIN), errorCount: 0, lastFailureAt: at(0) });
    expect(isInCooldown(d.usageStats["anthropic:p"], "anthropic", at(MIN + 1))).toBe(false);
  });
});

describe("what markFailure / markSuccess leave alone", () => {
  test.each(["timeout", "format", "context_overflow", "model_not_found", "no_credentials", "bogus"])("%s is not recorded", (reason) => {
    const d = doc();
    expect(markFailure(d, "anthropic:p", reason, at(0), {})).toBeUndefined();
    expect(d.usageStats).toBeUndefined();
  });

  test.each(["auth", "auth_permanent", "billing", "rate_limit", "overloaded", "unknown"])("%s is recorded", (reason) => {
    const d = doc();
    const next = markFailure(d, "anthropic:p", reason, at(0), {});
    expect(next).toMatchObject({ errorCount: 1, failureCounts: { [reason]: 1 }, lastFailureAt: at(0) });
    // The returned stats are exactly what was written into the document.
    expect(d.usageStats["anthropic:p"]).toEqual(next);
  });

  test("openrouter never cools down (any spelling of the provider)", () => {
    for (const provider of ["openrouter", " OpenRouter "]) {
      const d = doc(provider, "openrouter:p");
      for (const reason of ["rate_limit", "billing", "auth_permanent"]) expect(markFailure(d, "openrouter:p", reason, at(0), {})).toBeUndefined();
      expect(d.usageStats).toBeUndefined();
    }
  });

  test("a profile removed meanwhile is not re-created", () => {
    const d = doc();
    expect(markFailure(d, "anthropic:gone", "rate_limit", at(0), {})).toBeUndefined();
    expect(markSuccess(d, "anthropic:gone", "anthropic", at(0))).toBe(false);
    expect(d.usageStats).toBeUndefined();
    expect(d.lastGood).toBeUndefined();
  });

  test("lastGood only for the profile's own provider; other profiles' stats untouched", () => {
    const d = doc();
    d.profiles["openai:o"] = { type: "api_key", provider: "openai", key: "k" };
    d.usageStats = { "openai:o": { cooldownUntil: at(MIN), cooldownReason: "rate_limit" } };
    markSuccess(d, "anthropic:p", "openai", at(0));
    expect(d.lastGood).toBeUndefined();
    expect(d.usageStats["openai:o"]).toEqual({ cooldownUntil: at(MIN), cooldownReason: "rate_limit" });
  });

  test("cooldownModel only for rate_limit with a known model", () => {
    expect(run(doc(), [[0, "overloaded", "claude-x"]])[0]!.cooldownModel).toBeUndefined();
    expect(run(doc(), [[0, "rate_limit"]])[0]!.cooldownModel).toBeUndefined();
    expect(run(doc(), [[0, "rate_limit", "claude-x"]])[0]!.cooldownModel).toBe("claude-x");
  });
});

describe("recordOutcome writes through the store lock (runtime)", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  function setup(docValue: Doc | null): { rt: RuntimeContext; storePath: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-record-"));
    dirs.push(dir);
    const storePath = path.join(dir, "auth-profiles.json");
    if (docValue) fs.writeFileSync(storePath, JSON.stringify(docValue, null, 2), { mode: 0o600 });
    // recordOutcome reads only the store path and the config.
    const rt = { config: {}, storePath } as unknown as RuntimeContext;
    return { rt, storePath };
  }
  const read = (p: string) => JSON.parse(fs.readFileSync(p, "utf8"));

  test("failure then success with a fixed clock; unknown fields survive", async () => {
    const d = doc();
    d.custom = { keep: true };
    const { rt, storePath } = setup(d);
    await recordOutcome(rt, "anthropic:p", "anthropic", { ok: false, reason: "rate_limit", model: "claude-x" }, at(0));
    expect(read(storePath).usageStats["anthropic:p"]).toEqual({
      errorCount: 1,
      failureCounts: { rate_limit: 1 },
      lastFailureAt: at(0),
      cooldownUntil: at(MIN),
      cooldownReason: "rate_limit",
      cooldownModel: "claude-x",
    });
    await recordOutcome(rt, "anthropic:p", "anthropic", { ok: false, reason: "rate_limit", model: "claude-x" }, at(30 * S));
    expect(read(storePath).usageStats["anthropic:p"].cooldownUntil).toBe(at(MIN));
    await recordOutcome(rt, "anthropic:p", "anthropic", { ok: true }, at(40 * S));
    const after = read(storePath);
    expect(after.usageStats["anthropic:p"]).toEqual({ lastFailureAt: at(30 * S), lastUsed: at(40 * S), errorCount: 0 });
    expect(after.lastGood).toEqual({ anthropic: "anthropic:p" });
    expect(after.custom).toEqual({ keep: true });
    expect(fs.statSync(storePath).mode & 0o777).toBe(0o600);
  });

  test("nothing to record → the file is not rewritten; a missing store is not created", async () => {
    const { rt, storePath } = setup(doc("openrouter", "openrouter:p"));
    const past = new Date(Date.now() - H);
    fs.utimesSync(storePath, past, past);
    const before = fs.statSync(storePath).mtimeMs;
    const bytes = fs.readFileSync(storePath, "utf8");
    await recordOutcome(rt, "openrouter:p", "openrouter", { ok: false, reason: "rate_limit" }, at(0));
    await recordOutcome(rt, "openrouter:p", "openrouter", { ok: false, reason: "timeout" }, at(0));
    expect(fs.readFileSync(storePath, "utf8")).toBe(bytes);
    expect(fs.statSync(storePath).mtimeMs).toBe(before);

    const missing = setup(null);
    await recordOutcome(missing.rt, "anthropic:p", "anthropic", { ok: true }, at(0));
    expect(fs.existsSync(missing.storePath)).toBe(false);
  });
});
