/**
 * The OpenAI chat-completions wire format of the gateway (spec 07 §2): request validation, completion and error
 * bodies, and the SSE responses (directives as one chunk; committed upstream streams chunk by chunk, with the
 * outcome recorded before the stream ends).
 */
import { randomBytes } from "node:crypto";
import type { ChatMessage, ChatRequest, Completion, StreamEvent } from "./adapters.ts";
import type { LiveStream } from "./chat.ts";
import { classifyFailure, type Classified, type FailureReason } from "./classify.ts";
import { own } from "./dict.ts";
import { redact } from "./mask.ts";

const SSE_PING_MS = 15_000;

/** Reasons a request can end with: the classified upstream reasons and the runtime's own (07 §6). */
export type ClientReason = FailureReason | "no_credentials" | "all_profiles_unavailable" | "no_adapter";

/** Client status and error code by reason, the last column of the 07 §6 table. */
const CLIENT_ERRORS: Record<ClientReason, [number, string]> = {
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

/**
 * The client status and error code for the reason a request failed (07 §6 table), for a JSON error response and a
 * mid-stream error event alike. An unlisted reason is `502 upstream_error`, like `unknown`.
 */
export function clientError(reason: string): { status: number; code: string } {
  const [status, code] = own(CLIENT_ERRORS, reason) ?? CLIENT_ERRORS.unknown;
  return { status, code };
}

/** The `{message, type, code}` error object (07 §2); the type follows the status, the message is redacted. */
function errorObject(status: number, code: string, message: string, type?: string): { message: string; type: string; code: string } {
  const t = type ?? (status === 401 ? "authentication_error" : status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error");
  return { message: redact(message), type: t, code };
}

/** `{"error": {message, type, code}}` with the status (messages are redacted). */
export function errorBody(status: number, code: string, message: string, type?: string): Response {
  return Response.json({ error: errorObject(status, code, message, type) }, { status });
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

/** Text of the last `user` message (joined text parts), where directives are looked for (07 §4). */
export function lastUserText(messages: ChatMessage[]): string | undefined {
  const m = messages.findLast((x) => x.role === "user");
  if (!m) return undefined;
  return typeof m.content === "string" ? m.content : m.content.filter((p) => p.type === "text").map((p) => (p as { text: string }).text).join("");
}

// Completion ids only need to be unique: a random per-process prefix and a counter (no entropy read per request).
const ID_PREFIX = `chatcmpl-${randomBytes(6).toString("hex")}`;
let idCounter = 0;
const chatId = () => `${ID_PREFIX}${(idCounter++).toString(16).padStart(8, "0")}`;

/** A non-streaming response body; an OpenAI-compatible upstream body passes through with `model` rewritten (07 §7.2). */
export function completionBody(model: string, c: Completion): unknown {
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

/** One `data:` line of a `chat.completion.chunk`. */
function sseChunk(id: string, model: string, delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
}

/** A directive's reply (07 §4): HTTP 200, `model: "jarvis"`, one chunk + `[DONE]` when streaming. */
export function directiveResponse(text: string, stream: boolean, sessionKey: string): Response {
  const headers = { "x-jarvis-session": sessionKey, "x-jarvis-directive": "1", "x-jarvis-model": "jarvis" };
  if (!stream) return Response.json(completionBody("jarvis", { content: text, finishReason: "stop" }), { headers });
  const id = chatId();
  const body = sseChunk(id, "jarvis", { role: "assistant", content: text }, null) + sseChunk(id, "jarvis", {}, "stop") + "data: [DONE]\n\n";
  return new Response(body, { headers: { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/**
 * Turn a committed upstream stream into the client's SSE body (07 §2 streaming). The outcome is recorded (a
 * mid-stream failure at once) before the body ends; a client that goes away is not an upstream failure and records
 * nothing.
 */
export function streamResponse(
  live: LiveStream,
  model: string,
  headers: Record<string, string>,
  finish: (failure?: Classified) => Promise<void>,
  onEnd: () => void,
): Response {
  const id = chatId();
  const enc = new TextEncoder();
  let ping: ReturnType<typeof setInterval> | undefined;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (s: string) => {
        if (!cancelled) controller.enqueue(enc.encode(s));
      };
      ping = setInterval(() => send(": ping\n\n"), SSE_PING_MS);
      let roleSent = false;
      let finished = false;
      const role = () => {
        if (!roleSent) send(sseChunk(id, model, { role: "assistant", content: "" }, null));
        roleSent = true;
      };
      /** Forward one event; true when the stream is over (done or error). */
      const emit = (ev: StreamEvent): boolean => {
        switch (ev.kind) {
          case "role":
            role();
            return false;
          case "content":
            role();
            send(sseChunk(id, model, { content: ev.text }, null));
            return false;
          case "finish":
            finished = true;
            send(sseChunk(id, model, {}, ev.finishReason, ev.usage ? { usage: ev.usage } : {}));
            return false;
          case "passthrough": {
            const c: Record<string, unknown> = { ...ev.chunk, model };
            if ((c.choices as Array<{ finish_reason?: unknown }> | undefined)?.some((x) => x.finish_reason)) finished = true;
            send(`data: ${JSON.stringify(c)}\n\n`);
            return false;
          }
          case "done":
            if (!finished) send(sseChunk(id, model, {}, "stop"));
            send("data: [DONE]\n\n");
            return true;
          case "error":
            return true;
        }
      };
      let failure: Classified | undefined;
      try {
        let over = false;
        for (const ev of live.first) if ((over = emit(ev))) break;
        if (!over) {
          for await (const ev of live.rest) {
            if (ev.kind === "error") failure = classifyFailure({ structured: ev.structured, text: ev.text });
            if (emit(ev) || cancelled) break;
          }
        }
      } catch (e) {
        if (!cancelled) failure = classifyFailure({ text: (e as Error).message });
      }
      clearInterval(ping);
      if (failure) {
        // The same status → code and type as a JSON error response for this reason (07 §6 table); the status line
        // itself is long gone.
        const { status, code } = clientError(failure.reason);
        send(`data: ${JSON.stringify({ error: errorObject(status, code, failure.message) })}\n\ndata: [DONE]\n\n`);
      }
      try {
        if (!cancelled) await finish(failure);
      } finally {
        onEnd();
        try {
          controller.close();
        } catch {
          // the client went away
        }
      }
    },
    cancel() {
      cancelled = true;
      clearInterval(ping);
      live.cancel();
    },
  });
  return new Response(stream, { status: 200, headers: { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" } });
}
