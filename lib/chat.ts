/**
 * The gateway's runtime loop (spec 07 §5): candidates (session override › requested › default, then fallbacks),
 * the credential sequence per candidate (user pin, auto pin, resolved order without cooling profiles, env keys with
 * rotation, config credential), attempts through the adapters, failover by classified reason (07 §6 table), the
 * attempt guard, and the aggregated error when everything failed.
 */
import type { ChatRequest, Completion, StreamEvent, AdapterTarget, AttemptCredential } from "./adapters.ts";
import { buildProviderRequest, SseParser, streamEvents } from "./adapters.ts";
import { classifyFailure, extractStructuredError, type Classified, type FailureReason } from "./classify.ts";
import { cooldownSettings, isInCooldown, unusableUntil, RECORDABLE_REASONS } from "./cooldown.ts";
import { isoTime, short } from "./duration.ts";
import { profileEligibility } from "./eligibility.ts";
import { postStream } from "./http.ts";
import { refString, resolveModelRef, splitModelRef, type ModelChain, type ModelRef } from "./models.ts";
import { resolveOrder } from "./order.ts";
import { envBase, normalizeAuthProviderId } from "./providers.ts";
import {
  attemptOnce,
  configCredentialValue,
  envCredentials,
  extraHeaders,
  profileCredential,
  providerPlan,
  recordOutcome,
  type AttemptResult,
  type RuntimeContext,
} from "./runtime.ts";
import type { Session } from "./sessions.ts";
import type { AuthStore } from "./store.ts";

export const FIRST_BYTE_TIMEOUT_MS = 120_000;
export const STREAM_IDLE_TIMEOUT_MS = 120_000;

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
  /** Tests shrink the overload backoff; production uses 07 §5 step 6. */
  sleep?: (ms: number) => Promise<void>;
  firstByteTimeoutMs?: number;
}

/** A committed streaming response: events already read plus the rest, and a callback to record the outcome. */
export interface LiveStream {
  first: StreamEvent[];
  rest: AsyncGenerator<StreamEvent>;
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
  | { ok: false; status: number; code: string; message: string; retryAfterSec?: number; attempts: number; clearPin?: boolean };

interface Candidate {
  ref: ModelRef;
  refText: string;
}

const CLIENT_STATUS: Record<FailureReason | "no_credentials" | "all_profiles_unavailable" | "no_adapter", [number, string]> = {
  rate_limit: [429, "upstream_rate_limit"],
  overloaded: [503, "upstream_overloaded"],
  timeout: [504, "upstream_timeout"],
  auth: [502, "upstream_auth"],
  auth_permanent: [502, "upstream_auth"],
  billing: [402, "upstream_billing"],
  model_not_found: [404, "model_not_found"],
  format: [400, "upstream_invalid_request"],
  context_overflow: [400, "context_length_exceeded"],
  unknown: [502, "upstream_error"],
  no_credentials: [502, "no_credentials"],
  all_profiles_unavailable: [502, "all_profiles_unavailable"],
  no_adapter: [501, "no_adapter"],
};

/** Split a request `model` value into model ref and per-request pin (07 §2, same split as `/model`, 07 §4.1). */
export function requestModelRef(raw: string | undefined, input: Pick<ChatInput, "rt" | "chain" | "store">): { ref?: ModelRef; pin?: string; error?: string } {
  if (raw === undefined || raw === "" || raw === "default" || raw === "jarvis") return {};
  const { config } = input.rt;
  if (raw.includes("@")) {
    for (let i = raw.lastIndexOf("@"); i > 0; i = raw.lastIndexOf("@", i - 1)) {
      const ref = resolveModelRef(raw.slice(0, i), config, input.chain);
      const id = raw.slice(i + 1);
      const p = input.store.profiles[id];
      if (ref && p && normalizeAuthProviderId(p.provider) === ref.provider) return { ref, pin: id };
    }
  }
  const ref = resolveModelRef(raw, config, input.chain);
  return ref ? { ref } : { error: `Unknown model "${raw}".` };
}

/** Candidates of 07 §5 step 1. */
export function candidates(input: ChatInput, requested?: ModelRef): Candidate[] {
  const { config } = input.rt;
  const resolve = (raw: string) => resolveModelRef(raw, config, input.chain);
  const primary = (input.session.modelOverride ? splitModelRef(input.session.modelOverride) : undefined) ?? requested ?? resolve(input.chain.defaultModel);
  const out: Candidate[] = [];
  for (const ref of [primary, ...input.chain.fallbacks.map(resolve)]) {
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
  const reasons = new Set(ids.map((id) => store.usageStats[id]?.disabledReason ?? store.usageStats[id]?.cooldownReason ?? "unknown"));
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
    const pinned = store.profiles[userPin];
    if (pinned && normalizeAuthProviderId(pinned.provider) === P) return { steps: [{ kind: "profile", id: userPin }] };
  }
  const order = resolveOrder(P, store, input.rt.config, now, c.ref.model, input.rt.secretDefaults);
  if (order.ids.length === 0) return { steps: [{ kind: "env" }, { kind: "config" }] };
  const cooling = (id: string) => isInCooldown(store.usageStats[id], P, now, c.ref.model);
  const ready = order.ids.filter((id) => !cooling(id));
  const auto = input.session.authProfileOverrideSource === "auto" ? input.session.authProfileOverride : undefined;
  const steps: Step[] = [];
  if (auto && ready.includes(auto)) steps.push({ kind: "profile", id: auto });
  for (const id of ready) if (id !== auto) steps.push({ kind: "profile", id });
  if (steps.length > 0) return { steps };
  const inferred = inferReason(store, order.ids);
  const soonestId = [...order.ids].sort((a, b) => (unusableUntil(store.usageStats[a]) ?? 0) - (unusableUntil(store.usageStats[b]) ?? 0))[0]!;
  const soonest = unusableUntil(store.usageStats[soonestId]);
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
    const structured = extractStructuredError(text);
    return {
      ok: false,
      result: { ok: false, failure: classifyFailure({ status: res.status, structured, text: structured?.message ?? text.slice(0, 2000) }), httpStatus: res.status, latencyMs: latencyMs() },
    };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
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
        if (r.done) break;
        for (const rec of parser.push(decoder.decode(r.value, { stream: true }))) {
          for (const ev of streamEvents(target.api, rec)) {
            yield ev;
            if (ev.kind === "done" || ev.kind === "error") {
              ended = true;
              return;
            }
          }
        }
      }
      if (!ended) yield { kind: "done" };
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
  return { ok: true, stream: { first, rest: gen }, httpStatus: res.status };
}

function hasContent(chunk: Record<string, unknown>): boolean {
  const choices = chunk.choices as Array<{ delta?: { content?: unknown }; finish_reason?: unknown }> | undefined;
  return Boolean(choices?.some((c) => (typeof c.delta?.content === "string" && c.delta.content !== "") || c.finish_reason));
}

/**
 * Run one chat request through all candidates and credentials (07 §5).
 */
export async function runChat(input: ChatInput): Promise<ChatOutcome> {
  const { rt, store } = input;
  const sleep = input.sleep ?? ((ms: number) => Bun.sleep(ms));
  const requested = requestModelRef(input.requestModel, input);
  if (requested.error) return { ok: false, status: 400, code: "model_not_found", message: requested.error, attempts: 0 };
  let userPin = requested.pin;
  let clearPin = false;
  if (!userPin && input.session.authProfileOverrideSource === "user" && input.session.authProfileOverride) {
    const id = input.session.authProfileOverride;
    if (store.profiles[id]) userPin = id;
    else clearPin = true;
  }
  const cands = candidates(input, requested.ref);
  const seqs = cands.map((c) => ({ c, seq: credentialSequence(c, input, userPin) }));
  const credentialCandidates = seqs.reduce((n, { c, seq }) => n + ("steps" in seq ? seq.steps.filter((s) => s.kind === "profile").length + envCredentials(c.ref.provider, rt).length : 0), 0);
  const maxAttempts = Math.min(160, Math.max(32, 24 + 8 * credentialCandidates));
  const settings = cooldownSettings(rt.config);
  const maxOverloadRotations = Math.max(0, Math.floor((rt.config.auth?.cooldowns as { overloadedProfileRotations?: number } | undefined)?.overloadedProfileRotations ?? 1));
  void settings;
  let attempts = 0;
  let overloads = 0;
  let last: { reason: string; message: string } | undefined;
  const summary: string[] = [];
  const allRateLike: boolean[] = [];
  let soonestWindow: number | undefined;
  const noteWindow = (t: number | undefined) => {
    if (t !== undefined && t > input.now() && (soonestWindow === undefined || t < soonestWindow)) soonestWindow = t;
  };

  candidateLoop: for (const { c, seq } of seqs) {
    const P = c.ref.provider;
    const plan = providerPlan(P, rt.config);
    if (!plan.ok) {
      last = { reason: "no_adapter", message: plan.error };
      summary.push(`${c.refText}: no_adapter`);
      allRateLike.push(false);
      continue;
    }
    if ("fail" in seq) {
      last = { reason: "all_profiles_unavailable", message: `All auth profiles of ${P} are unavailable (${seq.inferred}).` };
      summary.push(`${c.refText}: ${seq.inferred} (${seq.ids.join(", ")})`);
      allRateLike.push(seq.inferred === "rate_limit" || seq.inferred === "overloaded");
      noteWindow(seq.soonest);
      continue;
    }
    const target: AdapterTarget = { provider: P, api: plan.api, baseUrl: plan.baseUrl, model: c.ref.model, extraHeaders: await extraHeaders(P, rt) };
    const tried: string[] = [];
    let reasonHere: string | undefined;
    let profileRotationsAfterOverload = 0;
    let triedSomething = false;

    const handle = async (
      r: AttemptResult | { ok: true; stream: LiveStream; httpStatus: number },
      label: string,
      profileId: string | undefined,
    ): Promise<ChatOutcome | "next-credential" | "next-model" | "stop"> => {
      attempts++;
      triedSomething = true;
      tried.push(label);
      if ("stream" in r) {
        const finish = async (failure?: Classified) => {
          if (!profileId) return;
          if (!failure) await recordOutcome(rt, profileId, P, { ok: true }, input.now());
          else if ((RECORDABLE_REASONS as readonly string[]).includes(failure.reason)) await recordOutcome(rt, profileId, P, { ok: false, reason: failure.reason, model: c.ref.model }, input.now());
        };
        return { ok: true, modelRef: c.refText, credential: label, attempts, stream: r.stream, finish, autoPin: autoPinFor(profileId) };
      }
      if (r.ok) {
        if (profileId) await recordOutcome(rt, profileId, P, { ok: true }, input.now());
        return { ok: true, modelRef: c.refText, credential: label, attempts, completion: r.completion, autoPin: autoPinFor(profileId) };
      }
      const f = r.failure;
      last = { reason: f.reason, message: f.message };
      reasonHere = f.reason;
      if (profileId && (RECORDABLE_REASONS as readonly string[]).includes(f.reason)) {
        await recordOutcome(rt, profileId, P, { ok: false, reason: f.reason, model: c.ref.model }, input.now());
        noteWindow(input.now() + (f.reason === "rate_limit" ? 60_000 : 0));
      }
      if (f.reason === "format" || f.reason === "context_overflow") return "stop";
      if (f.reason === "model_not_found") return "next-model";
      if (f.reason === "overloaded") {
        overloads++;
        if (profileRotationsAfterOverload >= maxOverloadRotations) return "next-model";
        profileRotationsAfterOverload++;
        await sleep(Math.min(1500, Math.round(250 * 2 ** (overloads - 1) * (1 + 0.2 * Math.random()))));
      }
      return "next-credential";
    };

    const autoPinFor = (profileId: string | undefined) =>
      profileId && !userPin && !(input.session.authProfileOverrideSource === "auto" && input.session.authProfileOverride === profileId) ? profileId : undefined;

    const run = (cred: AttemptCredential) =>
      input.req.stream
        ? attemptStream(target, cred, input.req, input.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS).then((x) => (x.ok ? x : x.result))
        : attemptOnce(target, cred, input.req, input.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS);

    for (const step of seq.steps) {
      if (attempts >= maxAttempts) break candidateLoop;
      if (step.kind === "profile") {
        const p = store.profiles[step.id];
        if (!p) {
          last = { reason: "no_credentials", message: `No credentials found for profile "${step.id}".` };
          continue;
        }
        if (userPin === step.id) {
          const e = profileEligibility(step.id, P, store, rt.config, input.now(), rt.secretDefaults);
          if (!e.eligible && e.reasonCode !== "mode_mismatch") {
            last = { reason: "no_credentials", message: `No credentials found for profile "${step.id}".` };
            continue;
          }
        }
        const cred = await profileCredential(p, store.usageStats[step.id], rt, input.now());
        if (!cred.ok) {
          last = { reason: "no_credentials", message: `Auth profile ${step.id}: ${cred.reasonCode} (${cred.error})` };
          continue;
        }
        const out = await handle(await run(cred.cred), step.id, step.id);
        if (typeof out === "object") return { ...out, ...(clearPin ? {} : {}) };
        if (out === "stop") break candidateLoop;
        if (out === "next-model") break;
        continue;
      }
      if (step.kind === "env") {
        const envs = envCredentials(P, rt);
        if (envs.length === 0) continue;
        let outcome: Awaited<ReturnType<typeof handle>> | undefined;
        for (const e of envs) {
          if (attempts >= maxAttempts) break candidateLoop;
          const r = await run({ type: e.mode, value: e.value });
          outcome = await handle(r, `env:${e.var}`, undefined);
          if (typeof outcome === "object") return outcome;
          if (!("failure" in r) || !r.failure.rotate) break;
        }
        if (outcome === "stop") break candidateLoop;
        break; // env credentials were used: no config fallback (02 §2)
      }
      if (step.kind === "config") {
        const cfg = await configCredentialValue(P, rt);
        if (!cfg) continue;
        if (!cfg.ok) {
          last = { reason: "no_credentials", message: `Config credential of ${P}: ${cfg.error}` };
          continue;
        }
        const out = await handle(await run(cfg.cred), cfg.cred.type === "local" ? "local" : "config", undefined);
        if (typeof out === "object") return out;
        if (out === "stop") break candidateLoop;
      }
    }
    if (!triedSomething && (!last || last.reason !== "no_credentials" || !last.message.startsWith("No credentials found for profile"))) {
      const base = envBase(P);
      if (!last || last.reason === "no_adapter" || !tried.length) {
        last = {
          reason: "no_credentials",
          message: `No API key found for provider "${P}". Auth store: ${input.storeDisplay} (agent ${rt.agentId}). Configure auth on the gateway host: set ${base}_API_KEY in ${input.stateEnvDisplay}, or run jarvis models auth paste-token --provider ${P}.`,
        };
      }
    }
    summary.push(`${c.refText}: ${triedSomething ? reasonHere : last?.reason ?? "no_credentials"}${tried.length ? ` (${tried.join(", ")})` : ""}`);
    allRateLike.push(triedSomething ? reasonHere === "rate_limit" || reasonHere === "overloaded" : false);
    if (reasonHere === "format" || reasonHere === "context_overflow") break;
  }

  const reason = (last?.reason ?? "no_credentials") as keyof typeof CLIENT_STATUS;
  let [status, code] = CLIENT_STATUS[reason] ?? [502, "upstream_error"];
  if (reason === "all_profiles_unavailable" && allRateLike.every(Boolean)) status = 429;
  const rateLike = allRateLike.length > 0 && allRateLike.every(Boolean);
  let message = last?.message ?? "No candidate model could be tried.";
  if (cands.length > 1 || attempts > 1 || reason === "all_profiles_unavailable") {
    message = `All candidates failed: ${summary.join("; ")}.`;
    if (soonestWindow !== undefined) message += ` Soonest cooldown ends ${isoTime(soonestWindow)} (in ${short(soonestWindow - input.now())}).`;
    if (reason === "no_credentials" && last) message += ` ${last.message}`;
  }
  const out: ChatOutcome = { ok: false, status, code, message, attempts, clearPin };
  if (rateLike && soonestWindow !== undefined) out.retryAfterSec = Math.max(1, Math.ceil((soonestWindow - input.now()) / 1000));
  return out;
}
