/**
 * `jarvis gateway` (spec 07 §1–§4): an OpenAI-compatible HTTP server for one agent on Bun.serve. It authenticates
 * clients, answers directives, runs chat requests through the runtime loop (chat.ts), streams SSE, keeps sessions,
 * and re-reads the auth store when the CLI changes it.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isLoopback } from "./_utils.ts";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { ChatRequest } from "./adapters.ts";
import { runChat, candidates as chatCandidates, credentialSequence, type ChatInput } from "./chat.ts";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { activeWindow } from "./cooldown.ts";
import { own } from "./dict.ts";
import { answerDirective, currentModel, parseDirective, pickerEntries, type DirectiveContext } from "./directives.ts";
import { short } from "./duration.ts";
import { envCredentialList } from "./env-keys.ts";
import { envRecord, originLabel } from "./env.ts";
import { errnoCode, JarvisError, UsageError } from "./errors.ts";
import { log, logInfoLine } from "./log.ts";
import { registerSecret } from "./mask.ts";
import { completionBody, directiveResponse, errorBody, lastUserText, parseChatBody, streamResponse } from "./openai-format.ts";
import { modelChain, resolveModelRef, type ModelChain } from "./models.ts";
import { normalizeAuthProviderId } from "./providers.ts";
import { resolveOrder, storeProfileIds, listingOrder } from "./order.ts";
import { providerPlan, type RuntimeContext } from "./runtime.ts";
import { coerceSecretRef, refDisplay, refKey } from "./secret-ref.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { CoalescingRecorder } from "./usage-recorder.ts";
import { SESSION_KEY, SessionReader, sessionsPath, updateSession, type Session } from "./sessions.ts";
import { DEFAULT_WARN_WITHIN_MS, profileHealth } from "./status.ts";
import { configCredential } from "./config-credential.ts";
import { loadStore, type AuthStore } from "./store.ts";
import { profileRef } from "./eligibility.ts";

const MAX_BODY_BYTES = 10_485_760;

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

/** A variable of the effective env (process env and the .env files, 02 §1); blank counts as unset. */
function envVar(ctx: Context, name: string): string | undefined {
  const v = ctx.env.vars.get(name)?.value;
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

/** A TCP port 1–65535 written as decimal digits, or undefined. */
function parsePort(raw: string): number | undefined {
  const s = raw.trim();
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** `loopback` → 127.0.0.1, `lan` → 0.0.0.0, an IP literal (brackets allowed) → itself; else undefined (07 §1). */
export function bindHost(bind: string): string | undefined {
  const host = bind === "loopback" ? "127.0.0.1" : bind === "lan" ? "0.0.0.0" : bind.replace(/^\[|\]$/g, "");
  return net.isIP(host) === 0 ? undefined : host;
}

/**
 * The port by 07 §1 precedence. Each source fails in its own terms: a flag is a usage error (64); the variable and
 * the config key are exit 1 naming where the value came from (01 §3 wording for the config).
 */
function gatewayPort(flags: GatewayFlags, ctx: Context): number {
  if (flags.port !== undefined) {
    const raw = String(flags.port);
    const port = parsePort(raw);
    if (port === undefined) throw new UsageError(`Invalid --port "${raw}" (use 1-65535).`);
    return port;
  }
  const fromEnv = envVar(ctx, "JARVIS_GATEWAY_PORT");
  if (fromEnv !== undefined) {
    const port = parsePort(fromEnv);
    if (port === undefined) {
      const where = originLabel(ctx.env.vars.get("JARVIS_GATEWAY_PORT")!.origin, ctx.show(path.join(ctx.paths.stateDir, ".env")));
      throw new JarvisError("env_invalid", `Invalid JARVIS_GATEWAY_PORT "${fromEnv}" (from ${where}): expected integer 1-65535`);
    }
    return port;
  }
  const configured: unknown = ctx.config.gateway?.port;
  if (configured === undefined) return 18789;
  // The config loader checks the type already (01 §3.1); this keeps the rule where the value is used.
  if (typeof configured !== "number" || !Number.isInteger(configured) || configured < 1 || configured > 65535) {
    throw new JarvisError("config_invalid", `Invalid config ${ctx.loaded.path}: gateway.port: expected integer 1-65535`);
  }
  return configured;
}

/** The listen address by 07 §1 precedence; a bad flag is a usage error (64), a bad config value exit 1 (01 §3). */
function gatewayHost(flags: GatewayFlags, ctx: Context): string {
  if (flags.bind !== undefined) {
    const bind = String(flags.bind).trim();
    const host = bindHost(bind);
    if (host === undefined) throw new UsageError(`Invalid --bind "${bind}" (use loopback, lan or an IP address).`);
    return host;
  }
  const configured: unknown = ctx.config.gateway?.bind;
  if (configured === undefined) return "127.0.0.1";
  const host = typeof configured === "string" ? bindHost(configured.trim()) : undefined;
  if (host === undefined) throw new JarvisError("config_invalid", `Invalid config ${ctx.loaded.path}: gateway.bind: expected "loopback", "lan" or an IP address`);
  return host;
}

/**
 * Port, bind address and client token (07 §1 precedence), validated.
 * @throws UsageError for a bad --port or --bind (64); JarvisError for a bad JARVIS_GATEWAY_PORT, gateway.port or
 *   gateway.bind (config_invalid, 01 §3) and for token problems (1)
 */
async function gatewaySettings(flags: GatewayFlags, ctx: Context): Promise<GatewaySettings> {
  const port = gatewayPort(flags, ctx);
  const host = gatewayHost(flags, ctx);
  let token: string | undefined = flags.token;
  if (flags.token !== undefined) log.warn("--token is visible in the process list; prefer JARVIS_GATEWAY_TOKEN or gateway.auth.token");
  token ??= envVar(ctx, "JARVIS_GATEWAY_TOKEN");
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
  if (!isLoopback(host)) {
    if (!token) {
      throw new JarvisError(
        "gateway_token_required",
        `Refusing to listen on ${host}:${port} without a gateway token. Set gateway.auth.token (or JARVIS_GATEWAY_TOKEN / --token), or bind to loopback.`,
      );
    }
    if (token.length < 16) throw new JarvisError("gateway_token_weak", "Gateway token must be at least 16 characters when binding beyond loopback.");
  }
  return { port, host, token };
}

/** Constant-time token check on SHA-256 digests (no length leak, 07 §1). */
function tokenMatches(given: string | undefined, expected: string): boolean {
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
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

/**
 * The request body, at most MAX_BODY_BYTES (07 §1). A Content-Length over the limit is refused before anything is
 * read; a body without one (chunked) is counted while it streams in and dropped at the first byte over the limit.
 * Bun's own limit sits far above ours (see `Bun.serve` below) so that both cases get the JSON 413 of 07 §2, not Bun's
 * empty 413 or a read error.
 * @returns the bytes, or undefined when the body is too large
 */
async function readBody(req: Request): Promise<Uint8Array | undefined> {
  const announced = req.headers.get("content-length");
  if (announced !== null && Number(announced) > MAX_BODY_BYTES) return undefined;
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    parts.push(value);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

/** Endpoints and their one method (07 §2). */
const ROUTES: Record<string, string | undefined> = { __proto__: null as never, "/healthz": "GET", "/v1/models": "GET", "/v1/chat/completions": "POST" };

/** The path of a request URL (`http://host:port/path?query` → `/path`) without building a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
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
        const P = first.ref.provider;
        const env = envCredentialList(P, g.ctx.env.vars).entries[0];
        const cfg = configCredential(P, g.ctx.config, g.ctx.env.vars, g.ctx.secretDefaults);
        next = env ? `env:${env.var}` : cfg?.present ? (cfg.kind === "local" ? "local" : "config") : "none (no credentials)";
      }
    } else next = `none (all profiles unavailable: ${seq.inferred})`;
  }
  lines.push(`Next auth profile: ${next}`);
  const providers = [...new Set(cands.map((c) => c.ref.provider))];
  for (const p of providers) {
    const plan = providerPlan(p, g.ctx.config);
    lines.push(`${p} — ${plan.ok ? `${plan.baseUrl} (${plan.api})` : "no adapter"}`);
    const resolved = resolveOrder(p, store, g.ctx.config, now, undefined, g.ctx.secretDefaults);
    const order = resolved.ids;
    const ids = storeProfileIds(store, p);
    const all = listingOrder(ids, order);
    all.forEach((id, i) => {
      const prof = own(store.profiles, id)!;
      const w = activeWindow(own(store.usageStats, id), p, now);
      const h = profileHealth(id, prof, { store, refs: new Map(), secretDefaults: g.ctx.secretDefaults, now, warnWithinMs: DEFAULT_WARN_WITHIN_MS, config: g.ctx.config });
      let state = w ? (w.kind === "cooldown" ? `cooldown ${w.reason} ${short(w.until - now)}` : `disabled:${w.reason} ${short(w.until - now)}`) : h.status;
      if (resolved.excluded.includes(id)) state += " (excluded by auth order)";
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

/**
 * A session's auth pin is stale when its profile is gone, or (user pin) the profile now belongs to another provider
 * than the session's model (07 §3). An auto pin may name a fallback model's provider, so only removal makes it stale.
 */
function isStalePin(session: Session, store: AuthStore, g: GatewayState): boolean {
  const id = session.authProfileOverride;
  if (!id) return false;
  const p = own(store.profiles, id);
  if (!p) return true;
  if (session.authProfileOverrideSource !== "user") return false;
  const ref = resolveModelRef(session.modelOverride ?? g.chain.defaultModel, g.ctx.config, g.chain);
  return ref !== undefined && normalizeAuthProviderId(p.provider) !== ref.provider;
}

class GatewayState {
  readonly store: StoreWatcher;
  readonly chain: ModelChain;
  readonly rt: RuntimeContext;
  readonly sessionsFile: string;
  readonly sessions: SessionReader;
  readonly recorder: CoalescingRecorder;
  constructor(readonly ctx: Context) {
    this.store = new StoreWatcher(ctx.agent.storePath);
    this.chain = modelChain(ctx.config, ctx.agent.agentId);
    this.rt = { config: ctx.config, env: ctx.env, home: ctx.paths.home, agentId: ctx.agent.agentId, storePath: ctx.agent.storePath, secretDefaults: ctx.secretDefaults };
    this.sessionsFile = sessionsPath(ctx.agent.sessionsDir);
    this.sessions = new SessionReader(this.sessionsFile);
    this.recorder = new CoalescingRecorder(this.rt);
    this.storeDisplay = ctx.show(ctx.agent.storePath);
    this.stateEnvDisplay = ctx.show(path.join(ctx.paths.stateDir, ".env"));
  }
  private readonly storeDisplay: string;
  private readonly stateEnvDisplay: string;
  chatInput(store: AuthStore, session: Session, req: ChatRequest, requestModel?: string): ChatInput {
    return {
      rt: this.rt,
      store,
      chain: this.chain,
      session,
      req,
      requestModel,
      now: Date.now,
      recorder: this.recorder,
      storeDisplay: this.storeDisplay,
      stateEnvDisplay: this.stateEnvDisplay,
    };
  }
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
  const metaOf = new WeakMap<Response, { session: string; model: string; credential: string; attempts: number }>();

  const handle = async (req: Request, route: string): Promise<Response> => {
    const method = ROUTES[route];
    if (method === undefined) return errorBody(404, "not_found", `Unknown path ${route}`);
    if (req.method !== method) {
      const r = errorBody(405, "method_not_allowed", `Use ${method} for ${route}`);
      r.headers.set("Allow", method);
      return r;
    }
    if (route === "/healthz") return Response.json({ ok: true });
    if (settings.token !== undefined) {
      const auth = req.headers.get("authorization");
      const given = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : (req.headers.get("x-jarvis-token") ?? undefined);
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
    const buf = await readBody(req);
    if (buf === undefined) return errorBody(413, "request_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
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
    const store = g.recorder.overlay(g.store.current());
    let session = g.sessions.get(sessionKey);
    const now = Date.now();
    if (isStalePin(session, store, g)) {
      session =
        (await updateSession(g.sessionsFile, sessionKey, (s) => {
          if (!s || !isStalePin(s, store, g)) return s ?? null;
          const n = { ...s };
          delete n.authProfileOverride;
          delete n.authProfileOverrideSource;
          return n;
        }, now)) ?? {};
    }
    const dctx: DirectiveContext = { config: ctx.config, chain: g.chain, store, session, now, secretDefaults: ctx.secretDefaults };
    const text = lastUserText(parsed.req.messages);
    const directive = text !== undefined ? parseDirective(text) : undefined;
    if (directive) {
      const stream = Boolean(parsed.req.stream);
      let res: Response;
      if (directive.kind === "status") res = directiveResponse(modelStatusText(g, sessionKey, session, store, dctx), stream, sessionKey);
      else {
        const out = answerDirective(directive, dctx);
        if (out.session !== undefined) await updateSession(g.sessionsFile, sessionKey, () => out.session!, now);
        res = directiveResponse(out.reply, stream, sessionKey);
      }
      metaOf.set(res, { session: sessionKey, model: "jarvis", credential: "-", attempts: 0 });
      return res;
    }
    const outcome = await runChat(g.chatInput(store, session, parsed.req, parsed.model));
    if (!outcome.ok) {
      const r = errorBody(outcome.status, outcome.code, outcome.message);
      r.headers.set("x-jarvis-session", sessionKey);
      if (outcome.retryAfterSec !== undefined) r.headers.set("Retry-After", String(outcome.retryAfterSec));
      metaOf.set(r, { model: "-", credential: "-", attempts: outcome.attempts, session: sessionKey });
      return r;
    }
    if (outcome.autoPin) {
      const pin = outcome.autoPin;
      // Never replaces a user pin set meanwhile; unchanged pins are not rewritten (07 §3).
      await updateSession(g.sessionsFile, sessionKey, (s) => (s?.authProfileOverrideSource === "user" ? s : { ...(s ?? {}), authProfileOverride: pin, authProfileOverrideSource: "auto" }), Date.now());
    }
    const headers = { "x-jarvis-session": sessionKey, "x-jarvis-model": outcome.modelRef, "x-jarvis-credential": outcome.credential };
    const meta = { model: outcome.modelRef, credential: outcome.credential, attempts: outcome.attempts, session: sessionKey };
    let res: Response;
    if (outcome.stream) {
      inFlight++;
      res = streamResponse(outcome.stream, outcome.modelRef, headers, outcome.finish!, () => inFlight--);
    } else res = Response.json(completionBody(outcome.modelRef, outcome.completion!), { headers });
    metaOf.set(res, meta);
    return res;
  };

  // Signal handlers go in before the port opens: Bun installs them asynchronously, and a signal that arrives
  // between "listening" and the handler would otherwise kill the process with 130 instead of a clean exit 0.
  let onSignal = () => {};
  const signalled = new Promise<void>((resolve) => {
    onSignal = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve();
    };
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: settings.host,
      port: settings.port,
      idleTimeout: 255,
      // Bun answers a body over this limit itself (an empty 413, or a read error for chunked bodies); `readBody`
      // enforces the real limit, so this one only has to stay out of its way.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      async fetch(req) {
        const t0 = performance.now();
        const route = pathOf(req.url);
        inFlight++;
        let res: Response;
        try {
          res = await handle(req, route);
        } catch (e) {
          log.error(`request failed: ${(e as Error).message}`);
          res = errorBody(500, "internal_error", "internal error");
        } finally {
          inFlight--;
        }
        const meta = metaOf.get(res);
        logInfoLine(
          `${req.method} ${route} ${res.status} ${Math.round(performance.now() - t0)}ms` +
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
    onSignal();
    if (errnoCode(e) === "EADDRINUSE" || /in use/i.test((e as Error).message)) {
      throw new JarvisError("port_in_use", `Port ${settings.port} on ${settings.host} is already in use.`);
    }
    throw e;
  }
  await new Promise((resolve) => setImmediate(resolve));
  log.info(`gateway listening on http://${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${server.port} (agent ${ctx.agent.agentId}, client auth: ${settings.token ? "token" : "none"})`);

  await signalled;
  // Stop accepting, give in-flight requests (streams included) up to 10 s, then close what is left (07 §1).
  const deadline = Date.now() + 10_000;
  void server.stop(false);
  while (inFlight > 0 && Date.now() < deadline) await Bun.sleep(20);
  await server.stop(true);
  await g.recorder.flush();
  return 0;
}
