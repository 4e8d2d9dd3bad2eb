/**
 * The gateway's runtime loop (spec 07 §5): candidates (session override › requested › default, then fallbacks),
 * the credential sequence per candidate (user pin, auto pin, resolved order without cooling profiles, env keys with
 * rotation, config credential), attempts through the adapters, failover by classified reason (07 §6 table), the
 * attempt guard, and the aggregated error when everything failed.
 */
import { buildProviderRequest, SseParser, streamEvents, type AdapterTarget, type AttemptCredential, type ChatRequest, type Completion, type StreamEvent } from "./adapters.ts";
import { classifyFailure, classifyHttpFailure, type Classified } from "./classify.ts";
import { cooldownSettings, isInCooldown, isRecordableReason, neverCoolsDown, nextStatsAfterFailure, unusableUntil } from "./cooldown.ts";
import { isoTime, short } from "./duration.ts";
import { profileEligibility } from "./eligibility.ts";
import { postStream } from "./http.ts";
import { refString, resolveModelRef, splitModelRef, type ModelChain, type ModelRef } from "./models.ts";
import { resolveOrder } from "./order.ts";
import { envBase, findProviderKey, normalizeAuthProviderId } from "./providers.ts";
import { resolveModelArg } from "./directives.ts";
import {
  attemptOnce,
  configCredentialValue,
  envCredentials,
  extraHeaders,
  forceRefreshCredential,
  profileCredential,
  providerPlan,
  type AttemptResult,
  type RuntimeContext,
} from "./runtime.ts";
import type { EnvCredential } from "./env-keys.ts";
import type { Session } from "./sessions.ts";
import { immediateRecorder, type OutcomeRecorder } from "./usage-recorder.ts";
import type { AuthStore } from "./store.ts";
import { own } from "./dict.ts";
import { clientError } from "./openai-format.ts";

const FIRST_BYTE_TIMEOUT_MS = 120_000;
const STREAM_IDLE_TIMEOUT_MS = 120_000;

export interface ChatInput {
  rt: RuntimeContext;
  store: AuthStore;
  chain: ModelChain;
  session: Session;
  /** Raw `model` field of the request (may carry `@<profileId>`). */
  requestModel?: string;
  req: ChatRequest;
  now: () => number;
  /** Display path of the auth store for the no_credentials message. */
  storeDisplay: string;
  stateEnvDisplay: string;
  /** Where outcomes go (default: written at once; the gateway coalesces successes). */
  recorder?: OutcomeRecorder;
  /** Tests shrink the overload backoff; production uses 07 §5 step 6. */
  sleep?: (ms: number) => Promise<void>;
  firstByteTimeoutMs?: number;
}

/** A committed streaming response: events already read plus the rest, and a callback to record the outcome. */
export interface LiveStream {
  first: StreamEvent[];
  rest: AsyncGenerator<StreamEvent>;
  /** Stop reading upstream (the client went away). */
  cancel: () => void;
}

export type ChatOutcome =
  | {
      ok: true;
      modelRef: string;
      credential: string;
      attempts: number;
      completion?: Completion;
      stream?: LiveStream;
      /** Record the end of a stream (success or mid-stream failure). */
      finish?: (failure?: Classified) => Promise<void>;
      /** New auto pin to persist, if it changed. */
      autoPin?: string;
    }
  | { ok: false; status: number; code: string; message: string; retryAfterSec?: number; attempts: number };

interface Candidate {
  ref: ModelRef;
  refText: string;
}

/**
 * Split a request `model` value into model ref and per-request pin (07 §2; the same split and checks as `/model`,
 * 07 §4.1). `""`, `default` and `jarvis` mean the default model.
 */
function requestModelRef(raw: string | undefined, input: Pick<ChatInput, "rt" | "chain" | "store">): { ref?: ModelRef; pin?: string; error?: { code: string; message: string } } {
  if (raw === undefined || raw === "" || raw === "default" || raw === "jarvis") return {};
  const m = resolveModelArg(raw, { config: input.rt.config, chain: input.chain, store: input.store });
  if (!m.ok) return { error: { code: m.code, message: m.message.replace(/ Send \/model to list configured models\.$/, "") } };
  return { ref: m.ref, pin: m.profileId };
}

// The config is read once per process (07 §1 "state"), so the chain's resolved refs are computed once per chain.
const resolvedChains = new WeakMap<ModelChain, { primary?: ModelRef; fallbacks: Array<ModelRef | undefined> }>();

function resolvedChain(input: Pick<ChatInput, "rt" | "chain">): { primary?: ModelRef; fallbacks: Array<ModelRef | undefined> } {
  let r = resolvedChains.get(input.chain);
  if (!r) {
    const resolve = (raw: string) => resolveModelRef(raw, input.rt.config, input.chain);
    r = { primary: resolve(input.chain.defaultModel), fallbacks: input.chain.fallbacks.map(resolve) };
    resolvedChains.set(input.chain, r);
  }
  return r;
}

/** Candidates of 07 §5 step 1. */
export function candidates(input: ChatInput, requested?: ModelRef): Candidate[] {
  const chain = resolvedChain(input);
  const primary = (input.session.modelOverride ? splitModelRef(input.session.modelOverride) : undefined) ?? requested ?? chain.primary;
  const out: Candidate[] = [];
  for (const ref of [primary, ...chain.fallbacks]) {
    if (!ref) continue;
    const refText = refString(ref);
    if (!out.some((c) => c.refText === refText)) out.push({ ref, refText });
  }
  return out;
}

type Step =
  | { kind: "profile"; id: string; early?: boolean }
  | { kind: "env" }
  | { kind: "config" };

/** Reason inferred from the windows of cooling profiles (priority of 07 §5 step 3). */
function inferReason(store: AuthStore, ids: string[]): string {
  const reasons = new Set(ids.map((id) => own(store.usageStats, id)?.disabledReason ?? own(store.usageStats, id)?.cooldownReason ?? "unknown"));
  for (const r of ["auth_permanent", "auth", "billing", "overloaded", "rate_limit", "unknown"]) if (reasons.has(r)) return r;
  return "unknown";
}

/**
 * The credential sequence of one candidate (07 §5 step 3).
 * @returns steps to try, or a failure code when the candidate cannot be tried
 */
export function credentialSequence(
  c: Candidate,
  input: ChatInput,
  userPin: string | undefined,
): { steps: Step[] } | { fail: "all_profiles_unavailable"; inferred: string; soonest?: number; ids: string[] } {
  const { store } = input;
  const now = input.now();
  const P = c.ref.provider;
  if (userPin) {
    const pinned = own(store.profiles, userPin);
    if (pinned && normalizeAuthProviderId(pinned.provider) === P) return { steps: [{ kind: "profile", id: userPin }] };
  }
  const order = resolveOrder(P, store, input.rt.config, now, c.ref.model, input.rt.secretDefaults);
  if (order.ids.length === 0) return { steps: [{ kind: "env" }, { kind: "config" }] };
  const cooling = (id: string) => isInCooldown(own(store.usageStats, id), P, now, c.ref.model);
  const ready = order.ids.filter((id) => !cooling(id));
  const auto = input.session.authProfileOverrideSource === "auto" ? input.session.authProfileOverride : undefined;
  const steps: Step[] = [];
  if (auto && ready.includes(auto)) steps.push({ kind: "profile", id: auto });
  for (const id of ready) if (id !== auto) steps.push({ kind: "profile", id });
  if (steps.length > 0) return { steps };
  const inferred = inferReason(store, order.ids);
  const soonestId = [...order.ids].sort((a, b) => (unusableUntil(own(store.usageStats, a)) ?? 0) - (unusableUntil(own(store.usageStats, b)) ?? 0))[0]!;
  const soonest = unusableUntil(own(store.usageStats, soonestId));
  if (["rate_limit", "overloaded", "unknown"].includes(inferred) && soonest !== undefined && soonest - now <= 120_000) {
    return { steps: [{ kind: "profile", id: soonestId, early: true }] };
  }
  return { fail: "all_profiles_unavailable", inferred, soonest, ids: order.ids };
}

/** Attempt one credential, streaming: returns a failure before any content, or the committed stream. */
async function attemptStream(
  target: AdapterTarget,
  cred: AttemptCredential,
  req: ChatRequest,
  firstByteMs: number,
): Promise<{ ok: false; result: AttemptResult } | { ok: true; stream: LiveStream; httpStatus: number }> {
  const t0 = performance.now();
  let preq;
  try {
    preq = buildProviderRequest(target, cred, { ...req, stream: true });
  } catch (e) {
    return { ok: false, result: { ok: false, failure: { reason: "format", message: (e as Error).message, rotate: false }, latencyMs: 0 } };
  }
  const res = await postStream(preq, firstByteMs);
  const latencyMs = () => Math.round(performance.now() - t0);
  if (!res.ok) return { ok: false, result: { ok: false, failure: classifyFailure({ transport: res.transport, text: res.message }), latencyMs: latencyMs() } };
  if (res.status < 200 || res.status >= 300) {
    const text = await new Response(res.body).text().catch(() => "");
    return { ok: false, result: { ok: false, failure: classifyHttpFailure(res.status, text), httpStatus: res.status, latencyMs: latencyMs() } };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const state = {};
  async function* events(): AsyncGenerator<StreamEvent> {
    let ended = false;
    try {
      while (true) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const idle = new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), STREAM_IDLE_TIMEOUT_MS)));
        const r = await Promise.race([reader.read(), idle]);
        clearTimeout(timer);
        if (r === "idle") {
          yield { kind: "error", text: "stream idle timeout" };
          return;
        }
        const records = r.done ? parser.flush() : parser.push(decoder.decode(r.value, { stream: true }));
        for (const rec of records) {
          for (const ev of streamEvents(target.api, rec, state)) {
            yield ev;
            if (ev.kind === "done" || ev.kind === "error") {
              ended = true;
              return;
            }
          }
        }
        if (r.done) break;
      }
      // Success needs a complete response (07 §5 step 5): an upstream that just stops is a failure.
      if (!ended) yield { kind: "error", text: "stream ended before completion" };
    } finally {
      reader.cancel().catch(() => {});
    }
  }
  const gen = events();
  const first: StreamEvent[] = [];
  while (true) {
    const n = await gen.next();
    if (n.done) break;
    const ev = n.value;
    if (ev.kind === "error") {
      return { ok: false, result: { ok: false, failure: classifyFailure({ structured: ev.structured, text: ev.text }), httpStatus: res.status, latencyMs: latencyMs() } };
    }
    first.push(ev);
    const isContent = ev.kind === "content" || ev.kind === "done" || ev.kind === "finish" || (ev.kind === "passthrough" && hasContent(ev.chunk));
    if (isContent) break;
  }
  return { ok: true, stream: { first, rest: gen, cancel: () => void reader.cancel().catch(() => {}) }, httpStatus: res.status };
}

function hasContent(chunk: Record<string, unknown>): boolean {
  const choices = chunk.choices as Array<{ delta?: { content?: unknown }; finish_reason?: unknown }> | undefined;
  return Boolean(choices?.some((c) => (typeof c.delta?.content === "string" && c.delta.content !== "") || c.finish_reason));
}

/** Per-request bookkeeping of the loop: attempts, overload rotations, early tries and the failure summary. */
interface LoopState {
  attempts: number;
  overloads: number;
  /** Profile rotations after an overload, per provider (07 §5 step 6). */
  overloadRotations: Map<string, number>;
  /** Providers that already had their one early try of a cooling profile (07 §5 step 3). */
  earlyTried: Set<string>;
  summary: string[];
  last?: { reason: string; message: string; inferred?: string };
  /** Every failure so far was rate_limit / overloaded (Retry-After, 07 §5 step 8). */
  rateLike: boolean;
  soonestWindow?: number;
}

type Verdict = "next-credential" | "next-model" | "stop";

/** The client status, code and message when every candidate failed (07 §5 step 8, §6 table). */
function failureOutcome(st: LoopState, input: ChatInput, single: boolean): ChatOutcome {
  const last = st.last ?? { reason: "no_credentials", message: "No candidate model could be tried." };
  const reason = last.reason;
  let { status, code } = clientError(reason);
  if (reason === "all_profiles_unavailable" && last.inferred === "rate_limit") status = 429;
  const now = input.now();
  let message = last.message;
  if (!single) {
    message = `All candidates failed: ${st.summary.join("; ")}.`;
    if (st.soonestWindow !== undefined && st.soonestWindow > now) message += ` Soonest cooldown ends ${isoTime(st.soonestWindow)} (in ${short(st.soonestWindow - now)}).`;
    if (reason === "no_credentials") message += ` ${last.message}`;
  }
  const out: ChatOutcome = { ok: false, status, code, message, attempts: st.attempts };
  if (st.rateLike && st.soonestWindow !== undefined && st.soonestWindow > now) out.retryAfterSec = Math.max(1, Math.ceil((st.soonestWindow - now) / 1000));
  return out;
}

/**
 * Run one chat request through all candidates and credentials (07 §5). Outcomes are recorded on profiles as they
 * happen; a committed stream records its end through `finish`.
 */
export async function runChat(input: ChatInput): Promise<ChatOutcome> {
  const { rt, store } = input;
  const sleep = input.sleep ?? ((ms: number) => Bun.sleep(ms));
  const recorder = input.recorder ?? immediateRecorder(rt);
  const requested = requestModelRef(input.requestModel, input);
  if (requested.error) return { ok: false, status: 400, code: requested.error.code, message: requested.error.message, attempts: 0 };
  let userPin = requested.pin;
  if (!userPin && input.session.authProfileOverrideSource === "user" && input.session.authProfileOverride && own(store.profiles, input.session.authProfileOverride)) {
    userPin = input.session.authProfileOverride;
  }
  const cands = candidates(input, requested.ref);
  // Sequences are resolved when their candidate is reached (the happy path never needs the fallbacks'), and all of
  // them only when the attempt guard could bind (it is never below 32).
  const seqCache = new Map<Candidate, ReturnType<typeof credentialSequence>>();
  const seqOf = (c: Candidate) => {
    let seq = seqCache.get(c);
    if (!seq) seqCache.set(c, (seq = credentialSequence(c, input, userPin)));
    return seq;
  };
  const guardReached = () => {
    if (st.attempts < 32) return false;
    const credentialCandidates = cands.reduce((n, c) => {
      const seq = seqOf(c);
      return n + ("steps" in seq ? seq.steps.filter((s) => s.kind === "profile").length + envList(c.ref.provider, rt).length : 0);
    }, 0);
    return st.attempts >= Math.min(160, Math.max(32, 24 + 8 * credentialCandidates));
  };
  const maxOverloadRotations = Math.max(0, Math.floor((rt.config.auth?.cooldowns as { overloadedProfileRotations?: number } | undefined)?.overloadedProfileRotations ?? 1));
  const st: LoopState = {
    attempts: 0,
    overloads: 0,
    overloadRotations: new Map(),
    earlyTried: new Set(),
    summary: [],
    rateLike: true,
  };
  const noteWindow = (t: number | undefined) => {
    if (t !== undefined && t > input.now() && (st.soonestWindow === undefined || t < st.soonestWindow)) st.soonestWindow = t;
  };
  const autoPinFor = (profileId: string | undefined) =>
    profileId && !userPin && !(input.session.authProfileOverrideSource === "auto" && input.session.authProfileOverride === profileId) ? profileId : undefined;

  for (const c of cands) {
    const P = c.ref.provider;
    const plan = providerPlan(P, rt.config);
    if (!plan.ok) {
      st.last = { reason: "no_adapter", message: plan.error };
      st.summary.push(`${c.refText}: no_adapter`);
      st.rateLike = false;
      continue;
    }
    const seq = seqOf(c);
    if ("fail" in seq) {
      st.last = { reason: "all_profiles_unavailable", message: `All auth profiles of ${P} are unavailable (${seq.inferred}).`, inferred: seq.inferred };
      st.summary.push(`${c.refText}: ${seq.inferred} (${seq.ids.join(", ")})`);
      if (seq.inferred !== "rate_limit" && seq.inferred !== "overloaded") st.rateLike = false;
      noteWindow(seq.soonest);
      continue;
    }
    const target: AdapterTarget = { provider: P, api: plan.api, baseUrl: plan.baseUrl, model: c.ref.model, extraHeaders: await headersFor(P, rt) };
    const tried: string[] = [];
    let here: { reason: string; message: string } | undefined;
    let backoffMs = 0;

    const run = async (cred: AttemptCredential) => {
      if (backoffMs > 0) await sleep(backoffMs);
      backoffMs = 0;
      st.attempts++;
      return input.req.stream
        ? attemptStream(target, cred, input.req, input.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS).then((x) => (x.ok ? x : x.result))
        : attemptOnce(target, cred, input.req, input.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS);
    };

    /** Success → the outcome; failure → record it and decide where to go next (07 §6 table). */
    const judge = async (r: AttemptResult | { ok: true; stream: LiveStream; httpStatus: number }, label: string, profileId?: string): Promise<ChatOutcome | Verdict> => {
      tried.push(label);
      if ("stream" in r) {
        const finish = async (failure?: Classified) => {
          if (!profileId) return;
          if (!failure) await recorder.success(profileId, P, input.now());
          else if (isRecordableReason(failure.reason)) await recorder.failure(profileId, P, failure.reason, c.ref.model, input.now());
        };
        return { ok: true, modelRef: c.refText, credential: label, attempts: st.attempts, stream: r.stream, finish, autoPin: autoPinFor(profileId) };
      }
      if (r.ok) {
        if (profileId) await recorder.success(profileId, P, input.now());
        return { ok: true, modelRef: c.refText, credential: label, attempts: st.attempts, completion: r.completion, autoPin: autoPinFor(profileId) };
      }
      const f = r.failure;
      here = { reason: f.reason, message: f.message };
      if (f.reason !== "rate_limit" && f.reason !== "overloaded") st.rateLike = false;
      if (profileId && isRecordableReason(f.reason)) {
        const now = input.now();
        // The window this failure opens (or keeps), for the aggregated message and Retry-After.
        if (!neverCoolsDown(P)) noteWindow(unusableUntil(nextStatsAfterFailure(own(store.usageStats, profileId), f.reason, P, now, cooldownSettings(rt.config), c.ref.model)));
        await recorder.failure(profileId, P, f.reason, c.ref.model, now);
      }
      if (f.reason === "format" || f.reason === "context_overflow") return "stop";
      if (f.reason === "model_not_found") return "next-model";
      if (f.reason === "overloaded") {
        st.overloads++;
        const rotations = st.overloadRotations.get(P) ?? 0;
        if (rotations >= maxOverloadRotations) return "next-model";
        st.overloadRotations.set(P, rotations + 1);
        backoffMs = Math.min(1500, Math.round(250 * 2 ** (st.overloads - 1) * (1 + 0.2 * Math.random())));
      }
      return "next-credential";
    };

    let verdict: Verdict = "next-credential";
    steps: for (const step of seq.steps) {
      if (guardReached()) break;
      if (step.kind === "profile") {
        if (step.early) {
          if (st.earlyTried.has(P)) {
            here = { reason: "all_profiles_unavailable", message: `All auth profiles of ${P} are unavailable.` };
            continue;
          }
          st.earlyTried.add(P);
        }
        const p = own(store.profiles, step.id);
        if (!p || (userPin === step.id && !profileEligibility(step.id, P, store, rt.config, input.now(), rt.secretDefaults).eligible)) {
          here = { reason: "no_credentials", message: `No credentials found for profile "${step.id}".` };
          continue;
        }
        const cred = await profileCredential(p, own(store.usageStats, step.id), rt, input.now(), step.id);
        if (!cred.ok) {
          here = { reason: "no_credentials", message: `Auth profile ${step.id}: ${cred.reasonCode} (${cred.error})` };
          continue;
        }
        let result = await run(cred.cred);
        // An `auth` failure of an OAuth profile first forces one refresh and retries the same profile (07 §5 step 6).
        if (!result.ok && "failure" in result && result.failure.reason === "auth" && p.type === "oauth" && !p.external) {
          const fresh = await forceRefreshCredential(step.id, rt);
          if (fresh?.ok) result = await run(fresh.cred);
        }
        const out = await judge(result, step.id, step.id);
        if (typeof out === "object") return out;
        verdict = out;
        if (out !== "next-credential") break;
      } else if (step.kind === "env") {
        const envs = envList(P, rt);
        if (envs.length === 0) continue;
        for (const e of envs) {
          if (guardReached()) break steps;
          const r = await run({ type: e.mode, value: e.value });
          const out = await judge(r, `env:${e.var}`);
          if (typeof out === "object") return out;
          verdict = out;
          if (out !== "next-credential" || !("failure" in r) || !r.failure.rotate) break;
        }
        break; // env credentials were used: no config fallback (02 §2)
      } else {
        const cfg = await configCredentialValue(P, rt);
        if (!cfg) continue;
        if (!cfg.ok) {
          here = { reason: "no_credentials", message: `Config credential of ${P}: ${cfg.error}` };
          continue;
        }
        const out = await judge(await run(cfg.cred), cfg.cred.type === "local" ? "local" : "config");
        if (typeof out === "object") return out;
        verdict = out;
      }
    }
    if (verdict === "stop" && here) {
      // The request is at fault (format, context overflow): no other candidate is tried, the upstream text is the answer.
      st.last = here;
      return failureOutcome(st, input, true);
    }
    if (!here) {
      here = {
        reason: "no_credentials",
        message: `No API key found for provider "${P}". Auth store: ${input.storeDisplay} (agent ${rt.agentId}). Configure auth on the gateway host: set ${envBase(P)}_API_KEY in ${input.stateEnvDisplay}, or run jarvis models auth paste-token --provider ${P}.`,
      };
    }
    if (here.reason === "no_credentials") st.rateLike = false;
    st.last = here;
    st.summary.push(`${c.refText}: ${here.reason}${tried.length ? ` (${tried.join(", ")})` : ""}`);
    if (guardReached()) break;
  }
  return failureOutcome(st, input, cands.length === 1 && st.attempts <= 1 && st.last?.reason !== "all_profiles_unavailable");
}

// Env is read once per process (07 §1 "state"): the env credential list of a provider never changes.
const envLists = new WeakMap<object, Map<string, EnvCredential[]>>();

/** `envCredentials` of the runtime, computed once per env snapshot and provider. */
function envList(providerId: string, rt: RuntimeContext): EnvCredential[] {
  let byProvider = envLists.get(rt.env);
  if (!byProvider) envLists.set(rt.env, (byProvider = new Map()));
  let list = byProvider.get(providerId);
  if (!list) byProvider.set(providerId, (list = envCredentials(providerId, rt)));
  return list;
}

const headerCache = new WeakMap<object, Map<string, Record<string, string>>>();

/**
 * `models.providers.<P>.headers` for an attempt. Plain strings never change while the gateway runs (config is read
 * once), so they are computed once; headers with SecretRefs are resolved per request so a rotated secret applies.
 */
async function headersFor(providerId: string, rt: RuntimeContext): Promise<Record<string, string>> {
  let byProvider = headerCache.get(rt.config);
  if (!byProvider) headerCache.set(rt.config, (byProvider = new Map()));
  const hit = byProvider.get(providerId);
  if (hit) return hit;
  const raw = rt.config.models?.providers?.[findProviderKey(rt.config.models?.providers, providerId) ?? ""]?.headers;
  const out = await extraHeaders(providerId, rt);
  if (!raw || Object.values(raw).every((v) => typeof v === "string")) byProvider.set(providerId, out);
  return out;
}
