/**
 * Status benchmark (issue: foundation). Measures `jarvis models status --check` with 0, 100 and 1000 auth
 * profiles against `jarvis --version` (the floor: process start of the same binary) in one run of measurement,
 * and prints medians and ratios. Targets: ≤ 1.5× the floor at 100 profiles, ≤ 2× at 1000.
 *
 * Usage: bun run build && bun bench/status.ts [--runs N]   (default 30 runs per case, interleaved)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");
const JARVIS = path.join(ROOT, "dist", "jarvis");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30;

function makeHome(profiles: number): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-bench-"));
  const agentDir = path.join(home, ".jarvis", "agents", "main", "agent");
  fs.mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  const now = Date.now();
  const doc: { version: number; profiles: Record<string, unknown>; usageStats: Record<string, unknown> } = { version: 1, profiles: {}, usageStats: {} };
  const providers = ["anthropic", "openai", "groq", "mistral", "openrouter"];
  for (let i = 0; i < profiles; i++) {
    const provider = providers[i % providers.length]!;
    const id = `${provider}:p${i}`;
    doc.profiles[id] =
      i % 3 === 0
        ? { type: "api_key", provider, key: `bench-key-${i}-abcdefghijklmnopqrstuvwxyz` }
        : i % 3 === 1
          ? { type: "token", provider, token: `bench-token-${i}-abcdefghijklmnopqrstuvwxyz`, expires: now + 30 * 86_400_000 }
          : { type: "oauth", provider, access: `bench-access-${i}-abcdefghijklmnop`, refresh: `bench-refresh-${i}-abcdefgh`, expires: now + 10 * 86_400_000 };
    if (i % 7 === 0) doc.usageStats[id] = { lastUsed: now - i * 1000, errorCount: 1, cooldownUntil: now + 60_000, cooldownReason: "rate_limit" };
  }
  if (profiles > 0) fs.writeFileSync(path.join(agentDir, "auth-profiles.json"), JSON.stringify(doc, null, 2), { mode: 0o600 });
  return home;
}

function timeOnce(args: string[], home: string): number {
  const t0 = Bun.nanoseconds();
  const r = Bun.spawnSync([JARVIS, ...args], { env: { HOME: home, PATH: "/usr/bin:/bin" }, cwd: "/", stdout: "ignore", stderr: "ignore" });
  const ms = (Bun.nanoseconds() - t0) / 1e6;
  if (r.exitCode === null || r.exitCode > 2) throw new Error(`jarvis ${args.join(" ")} exited ${r.exitCode}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const cases = [
  { name: "--version (floor)", args: ["--version"], home: makeHome(0) },
  { name: "status --check, 0 profiles", args: ["models", "status", "--check"], home: makeHome(0) },
  { name: "status --check, 100 profiles", args: ["models", "status", "--check"], home: makeHome(100) },
  { name: "status --check, 1000 profiles", args: ["models", "status", "--check"], home: makeHome(1000) },
];
const samples = cases.map(() => [] as number[]);
for (const c of cases) timeOnce(c.args, c.home); // warm the page cache
for (let r = 0; r < RUNS; r++) cases.forEach((c, i) => samples[i]!.push(timeOnce(c.args, c.home)));
const floor = median(samples[0]!);
console.log(`jarvis status benchmark — ${RUNS} interleaved runs per case, medians (ms)`);
cases.forEach((c, i) => {
  const m = median(samples[i]!);
  console.log(`${c.name.padEnd(32)} ${m.toFixed(1).padStart(8)} ms   ${(m / floor).toFixed(2)}× floor`);
});
for (const c of cases) fs.rmSync(c.home, { recursive: true, force: true });
