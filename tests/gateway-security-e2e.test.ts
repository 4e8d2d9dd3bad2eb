// `jarvis gateway` start-up rules, client auth, request limits and shutdown end to end (spec 07 §1, §2): refusals
// with their exact messages and exit codes, 401/400/404/405/413 answers, the gateway still serving afterwards,
// SIGTERM letting an in-flight request finish, and no secret in any response or log line.
import { beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { expectNoSecrets, sandbox, type Sandbox } from "./helpers.ts";
import type { FakeProvider } from "./fake-provider.ts";
import { ALL_SECRETS, configFor, credsSeen, freePort, keys, spawnJarvis, startGateway, storeWith, useGatewayFixtures } from "./gateway-helpers.ts";

const fixtures = useGatewayFixtures();
let fake: FakeProvider;
beforeAll(() => {
  fake = fixtures.fake;
});

const MAX_BODY = 10_485_760;
const hi = { messages: [{ role: "user", content: "hi" }] };

function gatewaySandbox(config: Record<string, any> = {}): Sandbox {
  fake.script("*", {});
  fake.script(keys.a, {});
  const sb = sandbox();
  sb.writeStore(storeWith({ "anthropic:a": keys.a }));
  sb.writeConfig(configFor(fake, {}, config));
  return sb;
}

/** Run `jarvis gateway …` expecting it to exit by itself within 10 s. */
async function runToExit(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const { proc, stderr } = spawnJarvis(["gateway", ...args], { ...sb.env, ...env });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  const code = await proc.exited;
  clearTimeout(timer);
  await Bun.sleep(20);
  return { code, stderr: stderr() };
}

describe("start-up refusals", () => {
  test("--bind lan without a token: exit 1 with the exact message", async () => {
    const sb = gatewaySandbox();
    const port = await freePort();
    const r = await runToExit(sb, ["--bind", "lan", "--port", String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `Refusing to listen on 0.0.0.0:${port} without a gateway token. Set gateway.auth.token (or JARVIS_GATEWAY_TOKEN / --token), or bind to loopback.`,
    );
    expect(r.stderr).not.toContain("gateway listening on");
  });

  test("a token shorter than 16 characters beyond loopback: exit 1 (env, flag and config alike)", async () => {
    const msg = "Gateway token must be at least 16 characters when binding beyond loopback.";
    const sb = gatewaySandbox();
    const port = String(await freePort());
    const env = await runToExit(sb, ["--bind", "lan", "--port", port], { JARVIS_GATEWAY_TOKEN: "short-token" });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(msg);
    const flag = await runToExit(sb, ["--bind", "0.0.0.0", "--port", port, "--token", "fifteen-chars!!"]);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain(msg);
    expect(flag.stderr).not.toContain("fifteen-chars!!");
    const cfg = gatewaySandbox({ gateway: { bind: "lan", auth: { token: "cfg-short" } } });
    const c = await runToExit(cfg, ["--port", port]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(msg);
  });

  test("an invalid --bind or --port is a usage error (64)", async () => {
    const sb = gatewaySandbox();
    expect((await runToExit(sb, ["--bind", "not-an-ip", "--port", String(await freePort())])).code).toBe(64);
    expect((await runToExit(sb, ["--port", "70000"])).code).toBe(64);
  });

  test("a bad gateway.bind / gateway.port in the config or JARVIS_GATEWAY_PORT: exit 1 naming the key or variable, never a flag", async () => {
    const bind = gatewaySandbox({ gateway: { bind: "bogus" } });
    const b = await runToExit(bind, ["--port", String(await freePort())]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(`Invalid config ${bind.configPath}: gateway.bind: expected "loopback", "lan" or an IP address`);
    expect(b.stderr).not.toContain("--bind");
    for (const port of [70000, 0, "8080"]) {
      const sb = gatewaySandbox({ gateway: { port } });
      const r = await runToExit(sb, []);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Invalid config ${sb.configPath}: gateway.port: expected integer 1-65535`);
      expect(r.stderr).not.toContain("--port");
    }
    const sb = gatewaySandbox();
    for (const value of ["abc", "0", "65536", "80.5"]) {
      const r = await runToExit(sb, [], { JARVIS_GATEWAY_PORT: value });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Invalid JARVIS_GATEWAY_PORT "${value}" (from env): expected integer 1-65535`);
      expect(r.stderr).not.toContain("--port");
    }
    // The variable in ~/.jarvis/.env is named with its file.
    sb.write(".jarvis/.env", "JARVIS_GATEWAY_PORT=abc\n");
    const dotenv = await runToExit(sb, []);
    expect(dotenv.code).toBe(1);
    expect(dotenv.stderr).toContain('Invalid JARVIS_GATEWAY_PORT "abc" (from ~/.jarvis/.env): expected integer 1-65535');
    // Flags keep their usage errors, whatever the config says.
    const flag = await runToExit(bind, ["--bind", "nope", "--port", String(await freePort())]);
    expect(flag.code).toBe(64);
    expect(flag.stderr).toContain('Invalid --bind "nope"');
    const portFlag = await runToExit(sb, ["--port", "abc"], { JARVIS_GATEWAY_PORT: "abc" });
    expect(portFlag.code).toBe(64);
    expect(portFlag.stderr).toContain('Invalid --port "abc"');
  });

  test("port busy: exit 1 `Port <n> on <addr> is already in use.`", async () => {
    const sb = gatewaySandbox();
    const port = await freePort();
    const blocker = net.createServer().listen(port, "127.0.0.1");
    await new Promise((r) => blocker.once("listening", r));
    try {
      const r = await runToExit(sb, ["--port", String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use.`);
    } finally {
      blocker.close();
    }
  });

  test("an auth store that is not valid JSON at start: exit 1", async () => {
    const sb = gatewaySandbox();
    sb.writeStore("{ nope");
    const r = await runToExit(sb, ["--port", String(await freePort())]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("auth-profiles.json");
  });
});

describe("client auth", () => {
  test("401 + WWW-Authenticate for a missing or wrong token; Bearer and x-jarvis-token accepted; /healthz open", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb, { env: { JARVIS_GATEWAY_TOKEN: keys.token } });
    await gw.waitFor(/client auth: token\)/);
    const n = fake.requests.length;
    const cases: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer wrong-token-0123456789abcdef" },
      { authorization: `Bearer ${keys.token}x` },
      { authorization: `Basic ${keys.token}` },
      { "x-jarvis-token": "nope" },
      { authorization: "Bearer " },
    ];
    for (const headers of cases) {
      for (const [path, method] of [["/v1/chat/completions", "POST"], ["/v1/models", "GET"]] as const) {
        const r = await gw.call(path, { method, headers: { "content-type": "application/json", ...headers }, body: method === "POST" ? JSON.stringify(hi) : undefined });
        expect(r.status).toBe(401);
        expect(r.headers.get("www-authenticate")).toBe("Bearer");
        expect(r.json.error.code).toBe("invalid_gateway_token");
      }
    }
    expect(fake.requests.length).toBe(n);
    const bearer = await gw.chat(hi, { headers: { authorization: `Bearer ${keys.token}` } });
    expect(bearer.status).toBe(200);
    const header = await gw.chat(hi, { headers: { "x-jarvis-token": keys.token } });
    expect(header.status).toBe(200);
    expect((await gw.call("/v1/models", { headers: { "x-jarvis-token": keys.token } })).status).toBe(200);
    const health = await gw.call("/healthz");
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ ok: true });
    expect(credsSeen(fake, n)).toEqual(["a", "a"]);
    gw.expectClean();
  });

  test("--token: works, warns about the process list, never logs the token", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb, { args: ["--token", keys.token], token: keys.token });
    expect(gw.stderr()).toContain("--token is visible in the process list");
    expect((await gw.chat(hi)).status).toBe(200);
    gw.expectClean();
  });

  test("gateway.auth.token from the config as ${VAR}", async () => {
    const sb = gatewaySandbox({ gateway: { auth: { token: "${GW_TOKEN}" } } });
    const gw = await startGateway(sb, { env: { GW_TOKEN: keys.token } });
    expect((await gw.chat(hi)).status).toBe(401);
    expect((await gw.chat(hi, { headers: { authorization: `Bearer ${keys.token}` } })).status).toBe(200);
    gw.expectClean();
  });
});

describe("request limits and errors", () => {
  test("400/404/405/413 answers, each an OpenAI error object; the gateway keeps serving", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb);
    const n = fake.requests.length;
    const bad = async (body: unknown, code: string, status = 400, headers: Record<string, string> = {}) => {
      const r = await gw.chat(body, { headers });
      expect(r.status).toBe(status);
      expect(r.json.error.code).toBe(code);
      expect(typeof r.json.error.message).toBe("string");
      expect(typeof r.json.error.type).toBe("string");
      return r;
    };
    await bad("{not json", "invalid_json");
    await bad("", "invalid_json");
    await bad([1, 2], "invalid_request");
    await bad({}, "invalid_request");
    await bad({ messages: [] }, "invalid_request");
    await bad({ messages: [{ role: "wizard", content: "x" }] }, "invalid_request");
    await bad({ ...hi, tools: [{ type: "function", function: { name: "f" } }] }, "unsupported_parameter");
    await bad({ ...hi, tool_choice: "auto" }, "unsupported_parameter");
    await bad({ ...hi, functions: [] }, "unsupported_parameter");
    await bad({ ...hi, n: 2 }, "unsupported_parameter");
    await bad({ messages: [{ role: "tool", content: "x", tool_call_id: "1" }] }, "unsupported_parameter");
    await bad({ ...hi, max_tokens: 0 }, "invalid_request");
    await bad({ ...hi, model: "nosuch/model" }, "model_not_found");
    await bad({ ...hi, model: "anthropic/claude-opus-4-6@anthropic:nope" }, "auth_profile_not_found");
    await bad(hi, "invalid_session", 400, { "x-jarvis-session": "bad session" });
    await bad(hi, "invalid_session", 400, { "x-jarvis-session": "x".repeat(129) });
    await bad(hi, "invalid_session", 400, { "x-jarvis-session": "../etc" });
    // Exactly the limit is read (and then judged as JSON); one byte more is 413.
    await bad(" ".repeat(MAX_BODY - 1) + "{", "invalid_json");
    await bad(" ".repeat(MAX_BODY + 1), "request_too_large", 413);
    const notFound = await gw.call("/v1/nope");
    expect(notFound.status).toBe(404);
    expect(notFound.json.error.code).toBe("not_found");
    for (const [path, method, allow] of [
      ["/v1/chat/completions", "GET", "POST"],
      ["/v1/models", "POST", "GET"],
      ["/healthz", "DELETE", "GET"],
    ] as const) {
      const r = await gw.call(path, { method });
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe(allow);
    }
    expect(fake.requests.length).toBe(n);
    // Still serving, and nothing leaked CORS headers.
    const ok = await gw.chat(hi);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBeNull();
    expect((await gw.call("/healthz")).status).toBe(200);
    expect(gw.proc.exitCode).toBeNull();
    gw.expectClean();
  });

  /** Fail unless `r` is the gateway's JSON 413 (07 §1, §2: errors always carry `{error: {message, type, code}}`). */
  const expect413 = (r: { status: number; text: string }) => {
    expect(r.status).toBe(413);
    const body = JSON.parse(r.text);
    expect(body.error).toMatchObject({ code: "request_too_large", type: "invalid_request_error" });
    expect(body.error.message).toBe(`Request body is larger than ${MAX_BODY} bytes.`);
  };

  test("a body well over the limit with Content-Length: a JSON 413, not the server's empty one", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb);
    const n = fake.requests.length;
    const body = new Uint8Array(11 * 1024 * 1024).fill(32);
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(10_000) });
    expect413({ status: res.status, text: await res.text() });
    expect(fake.requests.length).toBe(n);
    expect(gw.stderr()).not.toContain("request failed");
    expect((await gw.chat(hi)).status).toBe(200);
  });

  test("a Content-Length over the limit is refused before the body is read", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb);
    // Announce 5 GB and send a few bytes: the answer must come without waiting for the rest.
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(gw.port, "127.0.0.1", () => {
        sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n{"messages":`);
      });
      let out = "";
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no answer within 5 s: ${out}`));
      }, 5000);
      sock.on("data", (d) => {
        out += d.toString();
        if (/\r\n\r\n[\s\S]*\}\}/.test(out)) {
          clearTimeout(timer);
          sock.destroy();
          resolve(out);
        }
      });
      sock.on("error", reject);
    });
    const [head, body] = raw.split("\r\n\r\n");
    expect(head).toStartWith("HTTP/1.1 413");
    expect413({ status: 413, text: body!.slice(body!.indexOf("{")) });
    expect((await gw.chat(hi)).status).toBe(200);
  });

  test("a chunked body over the limit: the same JSON 413 (no 500, no server error logged)", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb);
    const n = fake.requests.length;
    const chunk = new Uint8Array(1 << 20).fill(32);
    for (const total of [MAX_BODY + 1, 11 * (1 << 20)]) {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= total) return c.close();
          const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
          sent += part.length;
          c.enqueue(part);
        },
      });
      const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body, signal: AbortSignal.timeout(10_000) });
      expect(res.headers.get("content-length")).not.toBe("0");
      expect413({ status: res.status, text: await res.text() });
    }
    // Exactly the limit, chunked, is read and judged as JSON.
    let sent = 0;
    const exact = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= MAX_BODY) return c.close();
        const part = chunk.subarray(0, Math.min(chunk.length, MAX_BODY - sent));
        sent += part.length;
        c.enqueue(part);
      },
    });
    const ok = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body: exact, signal: AbortSignal.timeout(10_000) });
    expect(ok.status).toBe(400);
    expect(((await ok.json()) as any).error.code).toBe("invalid_json");
    expect(fake.requests.length).toBe(n);
    expect(gw.stderr()).not.toContain("request failed");
    expect((await gw.chat(hi)).status).toBe(200);
  });
});

describe("shutdown", () => {
  test("SIGTERM: stops accepting, lets the in-flight request finish, exits 0", async () => {
    const sb = gatewaySandbox();
    fake.script(keys.a, { delayMs: 1200, reply: "slow but sure" });
    const gw = await startGateway(sb);
    const n = fake.requests.length;
    const pending = gw.chat(hi);
    const t0 = Date.now();
    while (fake.requests.length === n && Date.now() - t0 < 5000) await Bun.sleep(10);
    expect(fake.requests.length).toBe(n + 1);
    gw.proc.kill("SIGTERM");
    await Bun.sleep(100);
    // New connections are refused while the old request is still running.
    const late = await fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status,
      () => -1,
    );
    expect(late).toBe(-1);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.json.choices[0].message.content).toBe("slow but sure");
    expect(await gw.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    // The success was written before the exit.
    expect(sb.readStore().usageStats["anthropic:a"].lastUsed).toBeGreaterThan(0);
    gw.expectClean();
  });

  test("SIGINT with nothing in flight exits 0 at once", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb);
    const t0 = Date.now();
    gw.proc.kill("SIGINT");
    expect(await gw.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test("SIGTERM during a stream: the stream completes", async () => {
    const sb = gatewaySandbox();
    const gw = await startGateway(sb);
    fake.script(keys.a, { delayMs: 800, reply: "streamed slowly" });
    const pending = gw.chat({ ...hi, stream: true });
    await Bun.sleep(300);
    gw.proc.kill("SIGTERM");
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.text).toContain("data: [DONE]");
    expect(await gw.exited).toBe(0);
  });
});

test("no fixture secret in any stderr line of a refused start", async () => {
  const sb = gatewaySandbox();
  const r = await runToExit(sb, ["--bind", "lan", "--port", String(await freePort()), "--token", "short"], { ANTHROPIC_API_KEY: keys.env1 });
  expect(r.code).toBe(1);
  expectNoSecrets(r.stderr, ALL_SECRETS);
});
