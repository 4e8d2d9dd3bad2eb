/**
 * A fake model provider on loopback for tests: speaks Anthropic Messages, OpenAI chat completions, Google
 * generative AI and the Responses API, answers per credential with a scripted status/body/delay or a mid-stream
 * error, and records every request (headers + body) so tests can check exactly which credential was sent.
 */


export interface Script {
  /** HTTP status (default 200). */
  status?: number;
  /** JSON body to send instead of a normal completion (for errors). */
  body?: unknown;
  /** Raw text body (overrides `body`). */
  text?: string;
  /** Delay before the response headers, ms. */
  delayMs?: number;
  /** For streams: send this many content chunks, then an error event instead of finishing. */
  streamErrorAfter?: number;
  /** The error object of that event (Anthropic `error`, OpenAI chunk `error`); a provider-typical one by default. */
  streamError?: unknown;
  /** Reply text of a successful completion. */
  reply?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
  /** The credential the request carried (x-api-key, x-goog-api-key or Bearer token). */
  credential: string | undefined;
}

export interface FakeProvider {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Script the answer for one credential; `*` is the fallback. A function gets the request count for it. */
  script(credential: string, s: Script | ((n: number) => Script)): void;
  stop(): void;
}

function credentialOf(h: Headers): string | undefined {
  const auth = h.get("authorization");
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  return h.get("x-api-key") ?? h.get("x-goog-api-key") ?? undefined;
}

const sse = (obj: unknown, event?: string) => `${event ? `event: ${event}\n` : ""}data: ${typeof obj === "string" ? obj : JSON.stringify(obj)}\n\n`;

function kindOf(path: string): "anthropic" | "openai" | "google" | "responses" | undefined {
  if (path.endsWith("/messages")) return "anthropic";
  if (path.endsWith("/chat/completions")) return "openai";
  if (/:(stream)?[gG]enerateContent$/.test(path)) return "google";
  if (path.endsWith("/responses")) return "responses";
  return undefined;
}

function completion(kind: string, model: string, reply: string): unknown {
  switch (kind) {
    case "anthropic":
      return { id: "msg_1", type: "message", role: "assistant", model, content: [{ type: "text", text: reply }], stop_reason: "end_turn", usage: { input_tokens: 5, output_tokens: 2 } };
    case "google":
      return { candidates: [{ content: { role: "model", parts: [{ text: reply }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 } };
    case "responses":
      return { id: "resp_1", status: "completed", output: [{ type: "message", role: "assistant", content: [{ type: "output_text", text: reply }] }], usage: { input_tokens: 5, output_tokens: 2 } };
    default:
      return { id: "chatcmpl-1", object: "chat.completion", created: 1, model, choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } };
  }
}

function streamBody(kind: string, model: string, reply: string, errorAfter?: number, error?: unknown): string {
  const words = reply.split(/(?<= )/);
  const out: string[] = [];
  const errAt = errorAfter ?? Infinity;
  switch (kind) {
    case "anthropic":
      out.push(sse({ type: "message_start", message: { id: "msg_1", model } }, "message_start"));
      words.forEach((w, i) => {
        if (i < errAt) out.push(sse({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } }, "content_block_delta"));
      });
      if (errAt < Infinity) return out.join("") + sse({ type: "error", error: error ?? { type: "overloaded_error", message: "Overloaded" } }, "error");
      out.push(sse({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 2 } }, "message_delta"));
      out.push(sse({ type: "message_stop" }, "message_stop"));
      return out.join("");
    case "google":
      words.forEach((w, i) => {
        if (i < errAt) out.push(sse({ candidates: [{ content: { parts: [{ text: w }] } }] }));
      });
      if (errAt < Infinity) return out.join("") + sse({ error: { code: 503, status: "UNAVAILABLE", message: "overloaded" } });
      out.push(sse({ candidates: [{ content: { parts: [] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 } }));
      return out.join("");
    case "responses":
      words.forEach((w, i) => {
        if (i < errAt) out.push(sse({ type: "response.output_text.delta", delta: w }, "response.output_text.delta"));
      });
      if (errAt < Infinity) return out.join("") + sse({ type: "response.failed", response: { error: { code: "server_error", message: "upstream failed" } } }, "response.failed");
      out.push(sse({ type: "response.completed", response: { usage: { input_tokens: 5, output_tokens: 2 } } }, "response.completed"));
      return out.join("");
    default:
      words.forEach((w, i) => {
        if (i < errAt) out.push(sse({ id: "c1", object: "chat.completion.chunk", created: 1, model, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] }));
      });
      if (errAt < Infinity) return out.join("") + sse({ error: error ?? { type: "server_error", message: "upstream stream failed" } });
      out.push(sse({ id: "c1", object: "chat.completion.chunk", created: 1, model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }));
      out.push(sse("[DONE]"));
      return out.join("");
  }
}

/** Start a fake provider on 127.0.0.1 (random port). */
export function startFakeProvider(): FakeProvider {
  const scripts = new Map<string, Script | ((n: number) => Script)>();
  const counts = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      let body: any = undefined;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      const credential = credentialOf(req.headers);
      requests.push({ method: req.method, path: url.pathname + url.search, headers, body, credential });
      const kind = kindOf(url.pathname);
      if (!kind) return new Response("not found", { status: 404 });
      const key = credential ?? "(none)";
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      const entry = scripts.get(key) ?? scripts.get("*") ?? {};
      const s = typeof entry === "function" ? entry(n) : entry;
      if (s.delayMs) await Bun.sleep(s.delayMs);
      const status = s.status ?? 200;
      const model = String(body?.model ?? url.pathname.split("/models/")[1]?.split(":")[0] ?? "model");
      const streaming = body?.stream === true || url.pathname.includes("streamGenerateContent");
      if (s.text !== undefined) return new Response(s.text, { status, headers: { "content-type": "application/json" } });
      if (s.body !== undefined || status >= 300) {
        return Response.json(s.body ?? { error: { type: "error", message: `HTTP ${status}` } }, { status });
      }
      const reply = s.reply ?? "OK from fake";
      if (streaming) return new Response(streamBody(kind, model, reply, s.streamErrorAfter, s.streamError), { status, headers: { "content-type": "text/event-stream" } });
      return Response.json(completion(kind, model, reply), { status });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    requests,
    script: (c, s) => void scripts.set(c, s),
    stop: () => server.stop(true),
  };
}
