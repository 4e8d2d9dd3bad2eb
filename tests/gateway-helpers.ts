/**
 * Shared pieces of the `jarvis gateway` end-to-end tests (spec 07): start the compiled gateway in a sandbox HOME with
 * only HOME and PATH in its env, wait for its `gateway listening on` line, talk plain HTTP to it, and keep every
 * response (status line, headers, body) and every stderr line so a test can scan them all for fixture secrets.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll } from "bun:test";
import { startFakeProvider, type FakeProvider } from "./fake-provider.ts";
import { cleanupSandboxes, expectNoSecrets, JARVIS, type Sandbox } from "./helpers.ts";

/** Distinct fixture credentials (obviously fake, shaped like the real thing). */
export const keys = {
  a: "sk-ant-api03-" + "GWFAKEAA".repeat(10) + "aaaa",
  b: "sk-ant-api03-" + "GWFAKEBB".repeat(10) + "bbbb",
  c: "sk-ant-api03-" + "GWFAKECC".repeat(10) + "cccc",
  mail: "sk-ant-api03-" + "GWFAKEMM".repeat(10) + "mmmm",
  env1: "sk-ant-api03-" + "GWFAKEE1".repeat(10) + "e1e1",
  env2: "sk-ant-api03-" + "GWFAKEE2".repeat(10) + "e2e2",
  openai: "sk-proj-GWFAKE-openai-0123456789abcdef",
  openaiEnv: "sk-proj-GWFAKE-openai-env-0123456789ab",
  token: "gw-client-token-0123456789abcdef",
};
export const ALL_SECRETS = Object.values(keys);

/** A store document with api_key profiles `{id: key}` (provider taken from the id's prefix). */
export function storeWith(profiles: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, key] of Object.entries(profiles)) out[id] = { type: "api_key", provider: id.split(":")[0], key };
  return { version: 1, profiles: out, ...extra };
}

/**
 * Config pointing anthropic, openai and google at the fake provider, with a model chain.
 * @param extra merged at the top level (shallow), `agents.defaults` merged one level deeper
 */
export function configFor(fake: FakeProvider, chain: { primary?: string; fallbacks?: string[] } = {}, extra: Record<string, any> = {}): Record<string, unknown> {
  const { agentsDefaults, ...rest } = extra;
  return {
    models: {
      providers: {
        anthropic: { baseUrl: fake.url },
        openai: { baseUrl: `${fake.url}/v1`, models: [{ id: "gpt-5.2" }] },
        google: { baseUrl: `${fake.url}/v1beta` },
      },
    },
    agents: { defaults: { model: { primary: chain.primary ?? "anthropic/claude-opus-4-6", fallbacks: chain.fallbacks ?? [] }, ...(agentsDefaults ?? {}) } },
    ...rest,
  };
}

/** A free TCP port on 127.0.0.1 (bound once by the OS, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body, or undefined when it is not JSON. */
  json: any;
}

export interface Gateway {
  port: number;
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything the gateway wrote on stderr so far. */
  stderr(): string;
  /** Every response seen by `call`, rendered (status, headers, body), for the secret scan. */
  transcript: string[];
  /** Plain HTTP to the gateway; the response is recorded in `transcript`. */
  call(pathname: string, init?: RequestInit): Promise<Reply>;
  /** POST /v1/chat/completions with a JSON body (a string body is sent as is). */
  chat(body: unknown, opts?: { session?: string; headers?: Record<string, string> }): Promise<Reply>;
  /** Send one user message; returns the assistant text of a directive or completion. */
  say(text: string, opts?: { session?: string; model?: string }): Promise<Reply & { content: string }>;
  /** Wait for a line matching `re` on stderr (ms timeout). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number>;
  /** Fail when any fixture secret appears in a response or on stderr. */
  expectClean(secrets?: readonly string[]): void;
}

const running = new Set<Gateway>();

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  port?: number;
  /** Auth for every `call` (Bearer). */
  token?: string;
  timeoutMs?: number;
}

/** Spawn dist/jarvis with exactly `env` and collect stderr as it arrives. */
export function spawnJarvis(args: string[], env: Record<string, string>): { proc: ReturnType<typeof Bun.spawn>; stderr: () => string; waitFor: (re: RegExp, timeoutMs?: number) => Promise<void> } {
  const proc = Bun.spawn([JARVIS, ...args], { env, cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let err = "";
  const waiters = new Set<() => void>();
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      err += dec.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
    for (const w of waiters) w();
  })();
  const waitFor = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(err)) {
          cleanup();
          resolve();
        } else if (proc.exitCode !== null) {
          cleanup();
          reject(new Error(`jarvis exited (${proc.exitCode}) before printing ${re}; stderr:\n${err}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${re} on stderr within ${timeoutMs} ms; stderr:\n${err}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void proc.exited.then(() => setTimeout(check, 50));
      check();
    });
  return { proc, stderr: () => err, waitFor };
}

/**
 * Start `dist/jarvis gateway --port <free>` in the sandbox and wait for `gateway listening on`.
 * @throws when it exits or stays silent for `timeoutMs` (default 10 s)
 */
export async function startGateway(sb: Sandbox, opts: StartOptions = {}): Promise<Gateway> {
  const port = opts.port ?? (await freePort());
  const { proc, stderr, waitFor } = spawnJarvis(["gateway", "--port", String(port), ...(opts.args ?? [])], { ...sb.env, ...opts.env });
  const url = `http://127.0.0.1:${port}`;
  const transcript: string[] = [];
  const call = async (pathname: string, init: RequestInit = {}): Promise<Reply> => {
    const headers = new Headers(init.headers);
    if (opts.token && !headers.has("authorization") && !headers.has("x-jarvis-token")) headers.set("authorization", `Bearer ${opts.token}`);
    const res = await fetch(url + pathname, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(15_000) });
    const text = await res.text();
    const hs: string[] = [];
    res.headers.forEach((v, k) => hs.push(`${k}: ${v}`));
    transcript.push(`${res.status}\n${hs.join("\n")}\n\n${text}`);
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
  const chat = (body: unknown, o: { session?: string; headers?: Record<string, string> } = {}) =>
    call("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", ...(o.session ? { "x-jarvis-session": o.session } : {}), ...o.headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const gw: Gateway = {
    port,
    url,
    proc,
    stderr,
    transcript,
    call,
    chat,
    async say(text, o = {}) {
      const r = await chat({ ...(o.model !== undefined ? { model: o.model } : {}), messages: [{ role: "user", content: text }] }, { session: o.session });
      return { ...r, content: r.json?.choices?.[0]?.message?.content ?? "" };
    },
    waitFor,
    exited: proc.exited,
    expectClean(secrets = ALL_SECRETS) {
      expectNoSecrets([...transcript, stderr()].join("\n"), secrets);
    },
  };
  running.add(gw);
  try {
    await waitFor(/gateway listening on /, opts.timeoutMs ?? 10_000);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return gw;
}

/** Kill every gateway this file started (call from afterAll / afterEach). */
export async function stopGateways(): Promise<void> {
  for (const gw of running) {
    if (gw.proc.exitCode === null) gw.proc.kill("SIGKILL");
    await gw.proc.exited;
  }
  running.clear();
}

/** Read a JSON file of the sandbox, or undefined when missing. */
export function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** sessions.json of the default agent. */
export function sessionsFile(sb: Sandbox): string {
  return path.join(sb.state, "agents", "main", "sessions", "sessions.json");
}

/** Parse an SSE body into its `data:` payloads (JSON objects, or the string `[DONE]`). */
export function sseData(text: string): any[] {
  return text
    .split("\n\n")
    .map((block) => block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n"))
    .filter((d) => d !== "")
    .map((d) => (d === "[DONE]" ? d : JSON.parse(d)));
}

/** The credentials the fake saw, in order, as fixture names (`a`, `b`, …) where known. */
export function credsSeen(fake: FakeProvider, from = 0): string[] {
  const names = new Map(Object.entries(keys).map(([k, v]) => [v, k]));
  return fake.requests.slice(from).map((r) => names.get(r.credential ?? "") ?? String(r.credential));
}

/**
 * Retry `check` (an assertion that throws) until it passes or `timeoutMs` ends; the gateway writes successes to the
 * store coalesced, within about a second (07 §5 step 5, lib/usage-recorder.ts).
 */
export async function eventually<T>(check: () => T, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await Bun.sleep(25);
    }
  }
}

/**
 * The lifecycle every gateway test file shares: one fake provider for the file, every gateway stopped after each
 * test, fake and sandboxes cleaned up at the end. Call at the top level of a test file.
 * @returns the file's fake provider (started in beforeAll, so read it inside tests)
 */
export function useGatewayFixtures(): { readonly fake: FakeProvider } {
  const box = { fake: undefined as unknown as FakeProvider };
  beforeAll(() => {
    box.fake = startFakeProvider();
  });
  afterEach(async () => {
    await stopGateways();
  });
  afterAll(async () => {
    await stopGateways();
    box.fake.stop();
    cleanupSandboxes();
  });
  return box;
}
