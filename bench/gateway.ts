/**
 * Gateway benchmark (issue: `jarvis gateway`). Measures what the compiled gateway adds on top of calling the
 * provider directly: latency (p50, p99) and throughput at 1 and 32 concurrent clients against the loopback fake
 * provider (tests/fake-provider.ts, in its own process), the CPU time each request costs the gateway process, and
 * the gateway's peak RSS (VmHWM). For scale, the same load also goes through a 20-line Bun.serve → fetch proxy
 * (no auth, no store, no logging): the floor for any Bun proxy on this machine.
 * Targets: p50 added ≤ 1 ms, ≥ 70 % of direct throughput at 32 clients, peak RSS ≤ 80 MiB.
 *
 * Usage: bun run build && bun bench/gateway.ts [--requests N] [--rounds R]
 *   N requests per (target, concurrency, round) (default 1000), R rounds in alternating order (default 3).
 *   Loopback only; exit 1 when a target is missed.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");
const JARVIS = path.join(ROOT, "dist", "jarvis");
const KEY = "sk-ant-api03-" + "BENCHKEY".repeat(10) + "abcd";
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

if (process.argv.includes("--fake")) {
  // Child: the fake provider; prints its URL.
  const { startFakeProvider } = await import("../tests/fake-provider.ts");
  const fake = startFakeProvider();
  fake.requests.push = () => 0; // the bench never reads the log: keep memory flat
  process.stdout.write(`${fake.url}\n`);
  await new Promise(() => {});
}

if (process.argv.includes("--proxy")) {
  // Child: the reference proxy (OpenAI request in, Anthropic request upstream, OpenAI completion out).
  const [upstream, port] = process.argv.slice(process.argv.indexOf("--proxy") + 1);
  Bun.serve({
    hostname: "127.0.0.1",
    port: Number(port),
    async fetch(req) {
      if (req.method === "GET") return Response.json({ ok: true });
      const body = (await req.json()) as { messages: unknown };
      const res = await fetch(`${upstream}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": KEY, "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "claude-opus-4-6", max_tokens: 4096, messages: body.messages }),
      });
      const up = (await res.json()) as { content: Array<{ text: string }> };
      return Response.json({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: up.content[0]!.text }, finish_reason: "stop" }] });
    },
  });
  await new Promise(() => {});
}

const REQUESTS = arg("--requests", 1000);
const ROUNDS = arg("--rounds", 3);
const WARMUP = 200;
const TARGETS = { p50AddedMs: 1, throughputRatio: 0.7, rssMiB: 80 };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, proc: ReturnType<typeof Bun.spawn>, what: string): Promise<void> {
  for (let i = 0; ; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    if (i > 400 || proc.exitCode !== null) throw new Error(`${what} did not start`);
    await Bun.sleep(25);
  }
}

const fakeProc = Bun.spawn([process.execPath, import.meta.path, "--fake"], { stdout: "pipe", stderr: "inherit" });
const fakeUrl = new TextDecoder().decode((await fakeProc.stdout.getReader().read()).value).trim();

const home = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-bench-gw-"));
const agentDir = path.join(home, ".jarvis", "agents", "main", "agent");
fs.mkdirSync(agentDir, { recursive: true, mode: 0o700 });
fs.writeFileSync(path.join(home, ".jarvis", "jarvis.json"), JSON.stringify({ models: { providers: { anthropic: { baseUrl: fakeUrl } } } }), { mode: 0o600 });
fs.writeFileSync(
  path.join(agentDir, "auth-profiles.json"),
  JSON.stringify({ version: 1, profiles: { "anthropic:bench": { type: "api_key", provider: "anthropic", key: KEY } } }, null, 2),
  { mode: 0o600 },
);
// Default log level: the per-request log line is part of what the gateway costs.
const gwPort = await freePort();
const gw = Bun.spawn([JARVIS, "gateway", "--port", String(gwPort)], { env: { HOME: home, PATH: "/usr/bin:/bin" }, cwd: "/", stdout: "ignore", stderr: "pipe" });
const gwErr = new Response(gw.stderr).text();
await waitHealthy(`http://127.0.0.1:${gwPort}/healthz`, gw, "gateway");
const proxyPort = await freePort();
const proxy = Bun.spawn([process.execPath, import.meta.path, "--proxy", fakeUrl, String(proxyPort)], { stdout: "ignore", stderr: "inherit" });
await waitHealthy(`http://127.0.0.1:${proxyPort}/healthz`, proxy, "reference proxy");

interface Target {
  name: "direct" | "gateway" | "proxy";
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The process whose CPU time a request costs (beyond the client). */
  pid: number;
}
const openaiBody = JSON.stringify({ messages: [{ role: "user", content: "hi" }] });
const targets: Target[] = [
  {
    name: "direct",
    url: `${fakeUrl}/v1/messages`,
    headers: { "content-type": "application/json", "x-api-key": KEY, "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-opus-4-6", max_tokens: 4096, messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] }),
    pid: fakeProc.pid,
  },
  { name: "gateway", url: `http://127.0.0.1:${gwPort}/v1/chat/completions`, headers: { "content-type": "application/json" }, body: openaiBody, pid: gw.pid },
  { name: "proxy", url: `http://127.0.0.1:${proxyPort}/v1/chat/completions`, headers: { "content-type": "application/json" }, body: openaiBody, pid: proxy.pid },
];

/** `n` requests from `c` concurrent clients: per-request latencies (ms) and wall time (ms). */
async function load(t: Target, c: number, n: number): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        next++;
        const s = performance.now();
        const res = await fetch(t.url, { method: "POST", headers: t.headers, body: t.body });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${t.name}: HTTP ${res.status}`);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, wallMs: performance.now() - t0 };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** CPU time (user + system, ms) a process has used so far (/proc/<pid>/stat, USER_HZ = 100). */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

function vmHWM(pid: number): number | undefined {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : undefined;
}

const out: string[] = [];
let pass = true;
const f2 = (x: number) => x.toFixed(2);
for (const c of [1, 32]) {
  for (const t of targets) await load(t, c, WARMUP);
  const acc = new Map(targets.map((t) => [t.name, { lat: [] as number[], wall: 0, cpu: 0 }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      const cpu0 = cpuMs(t.pid);
      const res = await load(t, c, REQUESTS);
      const a = acc.get(t.name)!;
      a.cpu += cpuMs(t.pid) - cpu0;
      a.lat.push(...res.lat);
      a.wall += res.wallMs;
    }
  }
  const total = REQUESTS * ROUNDS;
  const stats = (name: Target["name"]) => {
    const a = acc.get(name)!;
    return { p50: pct(a.lat, 50), p99: pct(a.lat, 99), rps: (total / a.wall) * 1000, cpuUs: (a.cpu / total) * 1000 };
  };
  const d = stats("direct");
  out.push(`${c} client${c > 1 ? "s" : ""}:`);
  out.push(`  direct    p50 ${f2(d.p50)} ms  p99 ${f2(d.p99)} ms  ${d.rps.toFixed(0)} req/s  (fake ${d.cpuUs.toFixed(0)} µs CPU/req)`);
  for (const name of ["gateway", "proxy"] as const) {
    const g = stats(name);
    const ratio = g.rps / d.rps;
    let verdict = "";
    if (name === "gateway") {
      const ok = c === 1 ? g.p50 - d.p50 <= TARGETS.p50AddedMs : ratio >= TARGETS.throughputRatio;
      if (!ok) pass = false;
      verdict = c === 1 ? `  [p50 added ≤ ${TARGETS.p50AddedMs} ms: ${ok ? "ok" : "MISSED"}]` : `  [≥ ${TARGETS.throughputRatio * 100} %: ${ok ? "ok" : "MISSED"}]`;
    }
    out.push(
      `  ${name === "proxy" ? "ref proxy" : "gateway  "} p50 ${f2(g.p50)} ms  p99 ${f2(g.p99)} ms  ${g.rps.toFixed(0)} req/s  ` +
        `added p50 ${f2(g.p50 - d.p50)} ms  p99 ${f2(g.p99 - d.p99)} ms  throughput ${(ratio * 100).toFixed(0)} % of direct  ` +
        `(${g.cpuUs.toFixed(0)} µs CPU/req)${verdict}`,
    );
  }
}
const rss = vmHWM(gw.pid);
const rssOk = rss !== undefined && rss <= TARGETS.rssMiB;
if (!rssOk) pass = false;
out.push(`gateway peak RSS (VmHWM) ${rss === undefined ? "n/a" : `${rss.toFixed(1)} MiB`}  [≤ ${TARGETS.rssMiB} MiB: ${rssOk ? "ok" : "MISSED"}]`);

gw.kill("SIGTERM");
const code = await gw.exited;
proxy.kill();
fakeProc.kill();
fs.rmSync(home, { recursive: true, force: true });
console.log(`jarvis gateway bench: ${REQUESTS} requests × ${ROUNDS} rounds per case after ${WARMUP} warm-up, loopback, ${os.cpus().length} CPUs`);
for (const line of out) console.log(line);
const err = await gwErr;
if (code !== 0 || /^(error|warning):/m.test(err)) console.log(`gateway exit ${code}; stderr:\n${err.split("\n").filter((l) => /^(error|warning):/.test(l)).join("\n")}`);
console.log(pass ? "all targets met" : "TARGETS MISSED");
process.exitCode = pass ? 0 : 1;
