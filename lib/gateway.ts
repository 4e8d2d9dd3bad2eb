/**
 * `jarvis gateway` (spec 07 §1–§4): an OpenAI-compatible HTTP server for one agent on Bun.serve. It authenticates
 * clients, answers directives, runs chat requests through the runtime loop (chat.ts), streams SSE, keeps sessions,
 * and re-reads the auth store when the CLI changes it.
 */
import { createHash, timingSafeEqual, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { ChatMessage, ChatRequest, Completion, StreamEvent } from "./adapters.ts";
import { runChat, candidates as chatCandidates, credentialSequence, type ChatInput } from "./chat.ts";
import { classifyFailure, type Classified } from "./classify.ts";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { activeWindow } from "./cooldown.ts";
import { answerDirective, currentModel, parseDirective, pickerEntries, type DirectiveContext } from "./directives.ts";
import { short } from "./duration.ts";
import { envCredentialList } from "./env-keys.ts";
import { envRecord, originLabel } from "./env.ts";
import { JarvisError, UsageError } from "./errors.ts";
import { log } from "./log.ts";
import { registerSecret, redact } from "./mask.ts";
import { modelChain, type ModelChain } from "./models.ts";
import { resolveOrder, storeProfileIds } from "./order.ts";
import { envValue } from "./paths.ts";
import { providerPlan, type RuntimeContext } from "./runtime.ts";
import { coerceSecretRef, refDisplay, refKey } from "./secret-ref.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { readSession, SESSION_KEY, sessionsPath, updateSession, type Session } from "./sessions.ts";
import { profileHealth } from "./status.ts";
import { loadStore, type AuthStore } from "./store.ts";
import { profileRef } from "./eligibility.ts";

export const MAX_BODY_BYTES = 10_485_760;
const SSE_PING_MS = 15_000;

export interface GatewayFlags {
  port?: string;
  bind?: string;
  token?: string;
}

export interface GatewaySettings {
  port: number;
  host: string;
  token?: string;
}

/** Loopback = 127.0.0.0/8 and ::1 (07 §1). */
export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "[::1]";
}

/**
 * Port, bind address and client token (07 §1 precedence), validated.
 * @throws UsageError for a bad port or bind value (64); JarvisError for token problems (1)
 */
export async function gatewaySettings(flags: GatewayFlags, ctx: Context): Promise<GatewaySettings> {
  const rawPort = flags.port ?? envValue(process.env, "JARVIS_GATEWAY_PORT") ?? (ctx.config.gateway?.port !== undefined ? String(ctx.config.gateway.port) : "18789");
  if (!/^\d+$/.test(rawPort.trim()) || Number(rawPort) < 1 || Number(rawPort) > 65535) throw new UsageError(`Invalid --port "${rawPort}" (use 1-65535).`);
  const port = Number(rawPort);
  const bind = (flags.bind ?? ctx.config.gateway?.bind ?? "loopback").trim();
  const host = bind === "loopback" ? "127.0.0.1" : bind === "lan" ? "0.0.0.0" : bind;
  if (net.isIP(host.replace(/^\[|\]$/g, "")) === 0) throw new UsageError(`Invalid --bind "${bind}" (use loopback, lan or an IP address).`);
  let token: string | undefined = flags.token;
  if (flags.token !== undefined) log.warn("--token is visible in the process list; prefer JARVIS_GATEWAY_TOKEN or gateway.auth.token");
  token ??= ctx.env.vars.get("JARVIS_GATEWAY_TOKEN")?.value;
  if (token === undefined && ctx.config.gateway?.auth?.token !== undefined) {
    const raw = ctx.config.gateway.auth.token;
    const c = coerceSecretRef(raw, ctx.secretDefaults);
    if (c && "ref" in c) {
      const r = (await resolveSecretRefs([c.ref], { env: envRecord(ctx.env), home: ctx.paths.home, config: ctx.config, allowExec: true })).get(refKey(c.ref))!;
      if (!r.ok) throw new JarvisError("gateway_token_unresolved", `gateway.auth.token ${refDisplay(c.ref)} could not be resolved: ${r.error}`);
      token = r.value;
    } else if (c && "error" in c) throw new JarvisError("gateway_token_unresolved", `gateway.auth.token: ${c.error}`);
    else if (typeof raw === "string") token = raw;
  }
  if (token !== undefined && token.trim() === "") token = undefined;
  registerSecret(token);
  const h = host.replace(/^\[|\]$/g, "");
  if (!isLoopback(h)) {
    if (!token) {
      throw new JarvisError(
        "gateway_token_required",
        `Refusing to listen on ${host}:${port} without a gateway token. Set gateway.auth.token (or JARVIS_GATEWAY_TOKEN / --token), or bind to loopback.`,
      );
    }
    if (token.length < 16) throw new JarvisError("gateway_token_weak", "Gateway token must be at least 16 characters when binding beyond loopback.");
  }
  return { port, host: h, token };
}

/** Constant-time token check on SHA-256 digests (no length leak, 07 §1). */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

function errorBody(status: number, code: string, message: string, type?: string): Response {
  const t = type ?? (status === 401 ? "authentication_error" : status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error");
  return Response.json({ error: { message: redact(message), type: t, code } }, { status });
}

/** Keeps the newest valid store snapshot; re-reads when mtime or size changed (07 §1 "state"). */
class StoreWatcher {
  private snapshot: AuthStore;
  private stamp = "";
  private lastError = "";
  constructor(private readonly file: string) {
    this.snapshot = loadStore(file);
    this.stamp = this.stat();
  }
  private stat(): string {
    try {
      const st = fs.statSync(this.file);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return "missing";
    }
  }
  current(): AuthStore {
    const s = this.stat();
    if (s === this.stamp) return this.snapshot;
    this.stamp = s;
    try {
      this.snapshot = loadStore(this.file);
      this.lastError = "";
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastError) log.error(`${msg} (the gateway keeps serving the last valid auth store)`);
      this.lastError = msg;
    }
    return this.snapshot;
  }
}

const ROLES = new Set(["system", "developer", "user", "assistant"]);

/**
 * Validate a chat-completions body (07 §2).
 * @returns the chat request or a 400 error (code + message)
 */
export function parseChatBody(body: any): { ok: true; req: ChatRequest; model?: string } | { ok: false; code: string; message: string } {
  if (!body || typeof body !== "object" || Array.isArray(body)) return { ok: false, code: "invalid_request", message: "request body must be a JSON object" };
  for (const k of ["tools", "tool_choice", "functions"]) if (body[k] !== undefined) return { ok: false, code: "unsupported_parameter", message: `${k} is not supported (text and image input only)` };
  if (body.n !== undefined && body.n !== 1) return { ok: false, code: "unsupported_parameter", message: "n > 1 is not supported" };
  if (!Array.isArray(body.messages) || body.messages.length === 0) return { ok: false, code: "invalid_request", message: "messages must be a non-empty array" };
  const messages: ChatMessage[] = [];
  for (const [i, m] of body.messages.entries()) {
    if (!m || typeof m !== "object") return { ok: false, code: "invalid_request", message: `messages[${i}] must be an object` };
    if (m.role === "tool" || m.role === "function") return { ok: false, code: "unsupported_parameter", message: `messages[${i}].role "${m.role}" is not supported` };
    if (!ROLES.has(m.role)) return { ok: false, code: "invalid_request", message: `messages[${i}].role must be system, developer, user or assistant` };
    if (typeof m.content === "string") messages.push({ role: m.role, content: m.content });
    else if (Array.isArray(m.content)) {
      const parts: ChatMessage["content"] = [];
      for (const p of m.content) {
        if (p?.type === "text" && typeof p.text === "string") parts.push({ type: "text", text: p.text });
        else if (p?.type === "image_url" && typeof p.image_url?.url === "string") parts.push({ type: "image_url", image_url: { url: p.image_url.url } });
        else return { ok: false, code: "invalid_request", message: `messages[${i}].content has an unsupported part` };
      }
      messages.push({ role: m.role, content: parts });
    } else return { ok: false, code: "invalid_request", message: `messages[${i}].content must be a string or an array of parts` };
  }
  const req: ChatRequest = { messages, stream: body.stream === true };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined) {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) return { ok: false, code: "invalid_request", message: "max_tokens must be a positive integer" };
    req.maxTokens = maxTokens;
  }
  if (typeof body.temperature === "number") req.temperature = body.temperature;
  if (typeof body.top_p === "number") req.topP = body.top_p;
  if (typeof body.stop === "string" || Array.isArray(body.stop)) req.stop = body.stop;
  if (typeof body.user === "string") req.user = body.user;
  if (body.model !== undefined && typeof body.model !== "string") return { ok: false, code: "invalid_request", message: "model must be a string" };
  return { ok: true, req, model: body.model };
}

function lastUserText(messages: ChatMessage[]): string | undefined {
  const m = [...messages].reverse().find((x) => x.role === "user");
  if (!m) return undefined;
  return typeof m.content === "string" ? m.content : m.content.filter((p) => p.type === "text").map((p) => (p as { text: string }).text).join("");
}

const chatId = () => `chatcmpl-${randomBytes(12).toString("hex")}`;

function completionBody(model: string, c: Completion): unknown {
  if (c.passthrough) return { ...c.passthrough, model };
  return {
    id: chatId(),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: "assistant", content: c.content }, finish_reason: c.finishReason }],
    ...(c.usage ? { usage: c.usage } : {}),
  };
}

/** Render `/model status` (07 §4.2): no secrets, not even masked. */
function modelStatusText(g: GatewayState, sessionKey: string, session: Session, store: AuthStore, dctx: DirectiveContext): string {
  const now = Date.now();
  const input = g.chatInput(store, session, { messages: [] });
  const cands = chatCandidates(input);
  const cur = currentModel(dctx);
  const def = pickerEntries(g.ctx.config, g.chain).find((e) => e.isDefault)?.ref ?? g.chain.defaultModel;
  const lines = [
    `Agent: ${g.ctx.agent.agentId} (auth store ${g.ctx.show(g.ctx.agent.storePath)})`,
    `Session: ${sessionKey}`,
    `Model: ${cur}${session.modelOverride ? ` (session override; default ${def})` : " (default)"}`,
    `Candidates: ${cands.map((c) => c.refText).join(" → ")}`,
    `Auth pin: ${session.authProfileOverride ? `${session.authProfileOverride} (${session.authProfileOverrideSource ?? "auto"})` : "none"}`,
  ];
  const first = cands[0];
  let next = "none";
  if (first) {
    const userPin = session.authProfileOverrideSource === "user" ? session.authProfileOverride : undefined;
    const seq = credentialSequence(first, input, userPin);
    if ("steps" in seq) {
      const s = seq.steps[0];
      if (s?.kind === "profile") next = s.id;
      else {
        const env = envCredentialList(first.ref.provider, g.ctx.env.vars).entries[0];
        next = env ? `env:${env.var}` : "config";
      }
    } else next = `none (all profiles unavailable: ${seq.inferred})`;
  }
  lines.push(`Next auth profile: ${next}`);
  const providers = [...new Set(cands.map((c) => c.ref.provider))];
  for (const p of providers) {
    const plan = providerPlan(p, g.ctx.config);
    lines.push(`${p} — ${plan.ok ? `${plan.baseUrl} (${plan.api})` : "no adapter"}`);
    const order = resolveOrder(p, store, g.ctx.config, now, undefined, g.ctx.secretDefaults).ids;
    const ids = storeProfileIds(store, p);
    const all = [...order, ...ids.filter((id) => !order.includes(id)).sort()];
    all.forEach((id, i) => {
      const prof = store.profiles[id]!;
      const w = activeWindow(store.usageStats[id], p, now);
      const h = profileHealth(id, prof, { store, refs: new Map(), secretDefaults: g.ctx.secretDefaults, now, warnWithinMs: 86_400_000, config: g.ctx.config });
      const state = w ? (w.kind === "cooldown" ? `cooldown ${w.reason} ${short(w.until - now)}` : `disabled:${w.reason} ${short(w.until - now)}`) : h.status;
      const ref = profileRef(prof, g.ctx.secretDefaults);
      lines.push(`  ${i + 1}. ${id} ${prof.type} ${state}${ref && "ref" in ref ? ` ${refDisplay(ref.ref)}` : ""}`);
    });
    const env = envCredentialList(p, g.ctx.env.vars).entries[0];
    if (env) {
      const where = originLabel(env.origin, g.ctx.show(path.join(g.ctx.paths.stateDir, ".env")));
      lines.push(`  env: ${env.var} (${where})${all.length ? " — shadowed by profiles" : ""}`);
    }
  }
  return lines.join("\n");
}

class GatewayState {
  readonly store: StoreWatcher;
  readonly chain: ModelChain;
  readonly rt: RuntimeContext;
  readonly sessionsFile: string;
  constructor(readonly ctx: Context) {
    this.store = new StoreWatcher(ctx.agent.storePath);
    this.chain = modelChain(ctx.config, ctx.agent.agentId);
    this.rt = { config: ctx.config, env: ctx.env, home: ctx.paths.home, agentId: ctx.agent.agentId, storePath: ctx.agent.storePath, secretDefaults: ctx.secretDefaults };
    this.sessionsFile = sessionsPath(ctx.agent.sessionsDir);
  }
  chatInput(store: AuthStore, session: Session, req: ChatRequest, requestModel?: string): ChatInput {
    return {
      rt: this.rt,
      store,
      chain: this.chain,
      session,
      req,
      requestModel,
      now: Date.now,
      storeDisplay: this.ctx.show(this.ctx.agent.storePath),
      stateEnvDisplay: this.ctx.show(path.join(this.ctx.paths.stateDir, ".env")),
    };
  }
}

function sseChunk(id: string, model: string, delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
}

function directiveResponse(text: string, stream: boolean, sessionKey: string): Response {
  const headers = { "x-jarvis-session": sessionKey, "x-jarvis-directive": "1", "x-jarvis-model": "jarvis" };
  if (!stream) return Response.json(completionBody("jarvis", { content: text, finishReason: "stop" }), { headers });
  const id = chatId();
  const body = sseChunk(id, "jarvis", { role: "assistant", content: text }, null) + sseChunk(id, "jarvis", {}, "stop") + "data: [DONE]\n\n";
  return new Response(body, { headers: { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/** Turn a committed upstream stream into the client's SSE body (07 §2 streaming). */
function streamResponse(
  first: StreamEvent[],
  rest: AsyncGenerator<StreamEvent>,
  model: string,
  headers: Record<string, string>,
  finish: (failure?: Classified) => Promise<void>,
  onEnd: (ok: boolean) => void,
): Response {
  const id = chatId();
  const enc = new TextEncoder();
  let ping: ReturnType<typeof setInterval> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (s: string) => controller.enqueue(enc.encode(s));
      ping = setInterval(() => {
        try {
          send(": ping\n\n");
        } catch {
          clearInterval(ping);
        }
      }, SSE_PING_MS);
      let roleSent = false;
      let finished = false;
      const emit = (ev: StreamEvent): "continue" | "done" | "error" => {
        switch (ev.kind) {
          case "role":
            if (!roleSent) send(sseChunk(id, model, { role: "assistant", content: "" }, null));
            roleSent = true;
            return "continue";
          case "content":
            if (!roleSent) {
              send(sseChunk(id, model, { role: "assistant", content: "" }, null));
              roleSent = true;
            }
            send(sseChunk(id, model, { content: ev.text }, null));
            return "continue";
          case "finish":
            finished = true;
            send(sseChunk(id, model, {}, ev.finishReason, ev.usage ? { usage: ev.usage } : {}));
            return "continue";
          case "passthrough": {
            const c: Record<string, unknown> = { ...ev.chunk, model };
            if ((c.choices as Array<{ finish_reason?: unknown }> | undefined)?.some((x) => x.finish_reason)) finished = true;
            send(`data: ${JSON.stringify(c)}\n\n`);
            return "continue";
          }
          case "done":
            if (!finished) send(sseChunk(id, model, {}, "stop"));
            send("data: [DONE]\n\n");
            return "done";
          case "error":
            return "error";
        }
      };
      let failure: Classified | undefined;
      try {
        let state: "continue" | "done" | "error" = "continue";
        for (const ev of first) if ((state = emit(ev)) !== "continue") break;
        if (state === "continue") {
          for await (const ev of rest) {
            state = emit(ev);
            if (state === "error" && ev.kind === "error") {
              failure = classifyFailure({ structured: ev.structured, text: ev.text });
            }
            if (state !== "continue") break;
          }
        }
        if (state === "error" || failure) {
          const f = failure!;
          send(`data: ${JSON.stringify({ error: { message: redact(f.message), type: "upstream_error", code: f.reason } })}\n\n`);
          send("data: [DONE]\n\n");
        }
      } catch (e) {
        failure = classifyFailure({ text: (e as Error).message });
        try {
          send(`data: ${JSON.stringify({ error: { message: redact(failure.message), type: "upstream_error", code: failure.reason } })}\n\ndata: [DONE]\n\n`);
        } catch {
          // client went away
        }
      } finally {
        clearInterval(ping);
        try {
          controller.close();
        } catch {
          // already closed
        }
        await finish(failure);
        onEnd(!failure);
      }
    },
    cancel() {
      clearInterval(ping);
      rest.return(undefined).catch(() => {});
    },
  });
  return new Response(stream, { status: 200, headers: { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/**
 * Start the gateway and serve until SIGINT/SIGTERM.
 * @returns exit code (0 after a clean shutdown)
 * @throws JarvisError for refused settings, a busy port, or an invalid store at start
 */
export async function runGateway(flags: GatewayFlags, input: ContextInput): Promise<number> {
  const ctx = loadContext(input);
  const settings = await gatewaySettings(flags, ctx);
  const g = new GatewayState(ctx);
  let inFlight = 0;

  const handle = async (req: Request, server: { requestIP?: unknown }): Promise<Response> => {
    void server;
    const url = new URL(req.url);
    const route = url.pathname;
    const routes: Record<string, string> = { "/healthz": "GET", "/v1/models": "GET", "/v1/chat/completions": "POST" };
    if (!(route in routes)) return errorBody(404, "not_found", `Unknown path ${route}`);
    if (req.method !== routes[route]) {
      const r = errorBody(405, "method_not_allowed", `Use ${routes[route]} for ${route}`);
      r.headers.set("Allow", routes[route]!);
      return r;
    }
    if (route === "/healthz") return Response.json({ ok: true });
    if (settings.token !== undefined) {
      const auth = req.headers.get("authorization");
      const given = auth?.startsWith("Bearer ") ? auth.slice(7) : (req.headers.get("x-jarvis-token") ?? undefined);
      if (!tokenMatches(given, settings.token)) {
        const r = errorBody(401, "invalid_gateway_token", "Missing or wrong gateway token.");
        r.headers.set("WWW-Authenticate", "Bearer");
        return r;
      }
    }
    if (route === "/v1/models") {
      const data = pickerEntries(ctx.config, g.chain).map((e) => ({ id: e.ref, object: "model", created: 0, owned_by: e.ref.split("/")[0] }));
      return Response.json({ object: "list", data });
    }
    const len = Number(req.headers.get("content-length") ?? "0");
    if (len > MAX_BODY_BYTES) return errorBody(413, "request_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
    const buf = await req.arrayBuffer();
    if (buf.byteLength > MAX_BODY_BYTES) return errorBody(413, "request_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(buf));
    } catch {
      return errorBody(400, "invalid_json", "Request body is not valid JSON.");
    }
    const sessionKey = req.headers.get("x-jarvis-session") ?? "main";
    if (!SESSION_KEY.test(sessionKey)) return errorBody(400, "invalid_session", "x-jarvis-session must match ^[A-Za-z0-9._:-]{1,128}$.");
    const parsed = parseChatBody(body);
    if (!parsed.ok) return errorBody(400, parsed.code, parsed.message);
    const store = g.store.current();
    let session = readSession(g.sessionsFile, sessionKey);
    const now = Date.now();
    // A stale pin (profile removed or of another provider now) is dropped (07 §3).
    if (session.authProfileOverride && !store.profiles[session.authProfileOverride]) {
      session = (await updateSession(g.sessionsFile, sessionKey, (s) => {
        const n = { ...(s ?? {}) };
        delete n.authProfileOverride;
        delete n.authProfileOverrideSource;
        return n;
      }, now)) ?? {};
    }
    const dctx: DirectiveContext = { config: ctx.config, chain: g.chain, store, session, now, secretDefaults: ctx.secretDefaults };
    const text = lastUserText(parsed.req.messages);
    const directive = text !== undefined ? parseDirective(text) : undefined;
    if (directive) {
      if (directive.kind === "status") return directiveResponse(modelStatusText(g, sessionKey, session, store, dctx), Boolean(parsed.req.stream), sessionKey);
      const out = answerDirective(directive, dctx);
      if (out.session !== undefined) await updateSession(g.sessionsFile, sessionKey, () => out.session!, now);
      return directiveResponse(out.reply, Boolean(parsed.req.stream), sessionKey);
    }
    const input = g.chatInput(store, session, parsed.req, parsed.model);
    const outcome = await runChat(input);
    if (!outcome.ok) {
      const r = errorBody(outcome.status, outcome.code, outcome.message);
      r.headers.set("x-jarvis-session", sessionKey);
      if (outcome.retryAfterSec !== undefined) r.headers.set("Retry-After", String(outcome.retryAfterSec));
      (r as Response & { meta?: unknown }).meta = { model: "-", credential: "-", attempts: outcome.attempts, session: sessionKey };
      return r;
    }
    if (outcome.autoPin) {
      const pin = outcome.autoPin;
      await updateSession(g.sessionsFile, sessionKey, (s) => ({ ...(s ?? {}), authProfileOverride: pin, authProfileOverrideSource: "auto" }), Date.now());
    }
    const headers = { "x-jarvis-session": sessionKey, "x-jarvis-model": outcome.modelRef, "x-jarvis-credential": outcome.credential };
    const meta = { model: outcome.modelRef, credential: outcome.credential, attempts: outcome.attempts, session: sessionKey };
    if (outcome.stream) {
      inFlight++;
      const res = streamResponse(outcome.stream.first, outcome.stream.rest, outcome.modelRef, headers, outcome.finish!, () => inFlight--);
      (res as Response & { meta?: unknown }).meta = meta;
      return res;
    }
    const res = Response.json(completionBody(outcome.modelRef, outcome.completion!), { headers });
    (res as Response & { meta?: unknown }).meta = meta;
    return res;
  };

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: settings.host,
      port: settings.port,
      idleTimeout: 255,
      maxRequestBodySize: MAX_BODY_BYTES + 1,
      async fetch(req, srv) {
        const t0 = performance.now();
        inFlight++;
        let res: Response;
        try {
          res = await handle(req, srv);
        } catch (e) {
          log.error(`request failed: ${(e as Error).message}`);
          res = errorBody(500, "internal_error", "internal error");
        } finally {
          inFlight--;
        }
        const meta = (res as Response & { meta?: { model: string; credential: string; attempts: number; session: string } }).meta;
        const path = new URL(req.url).pathname;
        log.info(
          `${req.method} ${path} ${res.status} ${Math.round(performance.now() - t0)}ms` +
            (meta ? ` session=${meta.session} model=${meta.model} credential=${meta.credential} attempts=${meta.attempts}` : ""),
        );
        return res;
      },
      error(e) {
        log.error(`request failed: ${e.message}`);
        return errorBody(500, "internal_error", "internal error");
      },
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EADDRINUSE" || /in use/i.test((e as Error).message)) {
      throw new JarvisError("port_in_use", `Port ${settings.port} on ${settings.host} is already in use.`);
    }
    throw e;
  }
  log.info(`gateway listening on http://${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${server.port} (agent ${ctx.agent.agentId}, client auth: ${settings.token ? "token" : "none"})`);

  await new Promise<void>((resolve) => {
    const stop = async () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      const deadline = Date.now() + 10_000;
      server.stop(false);
      while (inFlight > 0 && Date.now() < deadline) await Bun.sleep(50);
      server.stop(true);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
