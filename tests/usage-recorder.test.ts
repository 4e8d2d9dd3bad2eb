// The gateway's outcome recorder (lib/usage-recorder.ts; 07 §5 steps 5–6, 03 §5, §7): successes coalesced into one
// write and visible at once through the overlay, failures written at once after the successes that preceded them.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadStore } from "../lib/store.ts";
import { CoalescingRecorder } from "../lib/usage-recorder.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function storeFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-recorder-"));
  dirs.push(d);
  const file = path.join(d, "auth-profiles.json");
  const profile = (p: string) => ({ type: "api_key", provider: p, key: `${p}-key-0123456789abcdef` });
  fs.writeFileSync(file, JSON.stringify({ version: 1, profiles: { "anthropic:a": profile("anthropic"), "anthropic:b": profile("anthropic") } }), { mode: 0o600 });
  return file;
}

const read = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));
const T = 1_800_000_000_000;

describe("CoalescingRecorder", () => {
  test("successes: visible in the overlay at once, written together in one write after the interval", async () => {
    const file = storeFile();
    const rec = new CoalescingRecorder({ storePath: file, config: {} }, 200);
    await rec.success("anthropic:a", "anthropic", T);
    const before = fs.statSync(file).mtimeMs;
    // The first success after a quiet period is written on the next tick; wait for it, then add two more.
    await Bun.sleep(50);
    expect(read(file).usageStats["anthropic:a"].lastUsed).toBe(T);
    expect(fs.statSync(file).mtimeMs).toBeGreaterThanOrEqual(before);
    const written = fs.statSync(file).mtimeMs;
    await rec.success("anthropic:a", "anthropic", T + 1);
    await rec.success("anthropic:b", "anthropic", T + 2);
    const view = rec.overlay(loadStore(file));
    expect(view.usageStats["anthropic:a"]!.lastUsed).toBe(T + 1);
    expect(view.usageStats["anthropic:b"]!.lastUsed).toBe(T + 2);
    expect(read(file).usageStats["anthropic:b"]).toBeUndefined();
    expect(fs.statSync(file).mtimeMs).toBe(written);
    await Bun.sleep(350);
    const doc = read(file);
    expect(doc.usageStats["anthropic:a"].lastUsed).toBe(T + 1);
    expect(doc.usageStats["anthropic:b"].lastUsed).toBe(T + 2);
    expect(doc.lastGood).toEqual({ anthropic: "anthropic:b" });
    // Nothing pending: the overlay is the store itself.
    const store = loadStore(file);
    expect(rec.overlay(store)).toBe(store);
  });

  test("a failure is written at once, after the earlier pending success, so the cooldown stays", async () => {
    const file = storeFile();
    const rec = new CoalescingRecorder({ storePath: file, config: {} }, 60_000);
    await rec.flush();
    await rec.success("anthropic:a", "anthropic", T);
    await rec.failure("anthropic:a", "anthropic", "rate_limit", "claude-opus-4-6", T + 10);
    const s = read(file).usageStats["anthropic:a"];
    expect(s).toMatchObject({ lastUsed: T, errorCount: 1, cooldownReason: "rate_limit", cooldownModel: "claude-opus-4-6", cooldownUntil: T + 10 + 60_000 });
    // A later success clears it (on flush).
    await rec.success("anthropic:a", "anthropic", T + 20);
    expect(rec.overlay(loadStore(file)).usageStats["anthropic:a"]!.cooldownUntil).toBeUndefined();
    await rec.flush();
    expect(read(file).usageStats["anthropic:a"]).toEqual({ lastUsed: T + 20, errorCount: 0, lastFailureAt: T + 10 });
  });

  test("a profile removed meanwhile is not re-created; an unwritable store is left untouched (write dropped)", async () => {
    const file = storeFile();
    const rec = new CoalescingRecorder({ storePath: file, config: {} }, 60_000);
    await rec.flush();
    await rec.success("anthropic:gone", "anthropic", T);
    await rec.flush();
    expect(read(file).usageStats?.["anthropic:gone"]).toBeUndefined();
    expect(read(file).profiles["anthropic:gone"]).toBeUndefined();
    fs.writeFileSync(file, "{ broken");
    await rec.success("anthropic:a", "anthropic", T);
    await rec.flush();
    await rec.success("anthropic:a", "anthropic", T + 1);
    await rec.flush();
    expect(fs.readFileSync(file, "utf8")).toBe("{ broken");
  });
});
