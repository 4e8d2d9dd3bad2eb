/**
 * The interactive `jarvis onboard` wizard (spec 09 §2.1): summary, auth method, key (reused from the env or a masked
 * prompt), where to keep it, default model; every answer is collected first and all writes happen at the end, so
 * Ctrl+C at any prompt exits 130 with nothing written.
 */
import path from "node:path";
import { checkSetupToken } from "./auth-cmd.ts";
import { loadContext, type Context, type ContextInput } from "./context.ts";
import { originLabel, envRecord } from "./env.ts";
import { JarvisError } from "./errors.ts";
import { log, printLine } from "./log.ts";
import { registerSecret } from "./mask.ts";
import { normalizeSecret } from "./normalize.ts";
import { isLoopbackUrl } from "./_utils.ts";
import { API_KEY_CHOICES, apiKeyPlan, customPlan, customProviderId } from "./onboard.ts";
import { CUSTOM_ENV_VAR, logNextSteps, printResult, verifyPlan, writePlan, type WritePlan } from "./onboard-write.ts";
import { confirm, promptSecret, promptSelect, promptText } from "./prompt.ts";
import { resolveSecretRefs } from "./secrets.ts";
import { refsToResolve } from "./status.ts";
import { statusOf } from "./status-cmd.ts";
import { loadStore } from "./store.ts";

type Check = (raw: string) => { ok: true; value: string } | { ok: false; message: string };

/** Masked prompt with up to 3 attempts (05 §2 step 4 style). @throws JarvisError invalid_input after the third */
async function askSecret(question: string, check: Check): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const r = check(await promptSecret(question));
    if (r.ok) {
      registerSecret(r.value);
      return r.value;
    }
    if (attempt >= 3) throw new JarvisError("invalid_input", r.message);
    log.warn(r.message);
  }
}

const pasteCheck = (what: string): Check => (raw) => {
  const n = normalizeSecret(raw, { mode: "paste", what, inputPath: true });
  return n.ok ? n : { ok: false, message: n.message };
};

/** Step 1: providers in use and their effective credential, as `models status` sees them (stderr). */
async function printSummary(ctx: Context): Promise<void> {
  const store = loadStore(ctx.agent.storePath);
  const refs = await resolveSecretRefs(refsToResolve(store, ctx.config, ctx.secretDefaults), {
    env: envRecord(ctx.env),
    home: ctx.paths.home,
    config: ctx.config,
    allowExec: false,
  });
  const report = statusOf(ctx, store, { refs, now: Date.now() });
  log.info(`Agent ${ctx.agent.agentId} (${ctx.show(ctx.agent.agentDir)}); default model ${report.resolvedDefault}`);
  for (const p of report.auth.providersInUse) {
    const pr = report.auth.providers.find((x) => x.provider === p);
    const e = pr?.effective;
    const text = !e || e.kind === "missing" ? "missing" : e.kind === "profiles" ? `auth profile ${e.profileId}` : `${e.kind} ${e.detail ?? ""}`.trim();
    log.info(`  ${p} [in use]: ${text}`);
  }
}

const MENU: Array<{ label: string; choice: string }> = [
  { label: "Anthropic API key", choice: "anthropic-api-key" },
  { label: "Anthropic setup-token (Claude subscription)", choice: "setup-token" },
  { label: "OpenAI API key", choice: "openai-api-key" },
  { label: "OpenAI Codex (ChatGPT login)", choice: "openai-codex" },
  { label: "Gemini API key", choice: "gemini-api-key" },
  { label: "OpenRouter API key", choice: "openrouter-api-key" },
  ...API_KEY_CHOICES.slice(4).map((c) => ({ label: c.label, choice: c.choice })),
  { label: "Import from Claude Code", choice: "claude-code-import" },
  { label: "Import from Codex CLI", choice: "codex-import" },
  { label: "Custom OpenAI/Anthropic-compatible endpoint", choice: "custom-api-key" },
  { label: "Skip", choice: "skip" },
];

/** Step 3 for API keys: the key, then where to keep it. */
async function askApiKey(ctx: Context, c: { choice: string; provider: string; label: string; envVar: string; defaultModel?: string }, profileId: string, optional = false) {
  const envPath = path.join(ctx.paths.stateDir, ".env");
  const found = ctx.env.vars.get(c.envVar);
  let value: string | undefined;
  let fromEnv = false;
  if (found && (await confirm(`Use the ${c.envVar} found in ${originLabel(found.origin, ctx.show(envPath))}? [Y/n]`, true))) {
    value = found.value;
    fromEnv = true;
  } else if (optional) {
    const raw = await promptSecret(`Paste the ${c.label} (Enter for none)`);
    if (raw.trim() !== "") value = await (async () => {
      const r = pasteCheck(c.label)(raw);
      if (!r.ok) throw new JarvisError("invalid_input", r.message);
      registerSecret(r.value);
      return r.value;
    })();
  } else value = await askSecret(`Paste the ${c.label}`, pasteCheck(c.label));
  if (value === undefined) return { value, mode: "plaintext" as const, store: "profile" as const };
  const where = [`auth store (profile ${profileId})`, `${ctx.show(envPath)} (read by daemons)`];
  if (fromEnv) where.push(`a reference to ${c.envVar} (keyRef)`);
  const answer = where.indexOf(await promptSelect("Where should jarvis keep it?", where));
  return { value, mode: answer === 2 ? ("ref" as const) : ("plaintext" as const), store: answer === 1 ? ("env" as const) : ("profile" as const) };
}

const askDefault = (model: string) => confirm(`Make ${model} the default model? [y/N]`, false);

/**
 * Run the wizard (TTY only; the caller checked). Writes at the end, verifies, prints next steps.
 * @throws CancelledError (130) on Ctrl+C, JarvisError for rejected input or a failed flow
 */
export async function runWizard(input: ContextInput): Promise<number> {
  const ctx = loadContext(input);
  await printSummary(ctx);
  const label = await promptSelect("Choose an auth method", MENU.map((m) => m.label));
  const choice = MENU.find((m) => m.label === label)?.choice ?? "skip";
  let plan: WritePlan | undefined;
  const api = API_KEY_CHOICES.find((c) => c.choice === choice);
  if (choice === "skip") {
    printLine("Skipped; nothing was changed.");
    return 0;
  } else if (api) {
    const profileId = `${api.provider}:default`;
    const k = await askApiKey(ctx, api, profileId);
    const setDefault = await askDefault(api.defaultModel);
    plan = apiKeyPlan({ ...api, profileId }, k.mode, k.store, k.value!, setDefault);
  } else if (choice === "setup-token") {
    log.info("Run `claude setup-token` on a machine with Claude Code (Claude Pro/Max subscription; it needs a TTY), then paste the token here.");
    const token = await askSecret("Paste the setup-token (sk-ant-oat01-…)", checkSetupToken);
    const setDefault = await askDefault("anthropic/claude-opus-4-6");
    plan = { authChoice: choice, provider: "anthropic", mode: "plaintext", store: "profile", value: token, profile: { id: "anthropic:manual", cred: { type: "token", provider: "anthropic", token } } };
    if (setDefault) plan.defaultModel = "anthropic/claude-opus-4-6";
  } else if (choice === "openai-codex") {
    const setDefault = await askDefault("openai-codex/gpt-5.2");
    const { runLogin } = await import("./oauth-cmd.ts");
    const code = await runLogin({ provider: "openai-codex", setDefault }, input);
    logNextSteps();
    return code;
  } else if (choice === "claude-code-import" || choice === "codex-import") {
    const { runImport } = await import("./oauth-cmd.ts");
    const code = await runImport({ from: choice === "claude-code-import" ? "claude-code" : "codex" }, input);
    logNextSteps();
    return code;
  } else {
    const base = (await promptText("Base URL of the endpoint (e.g. http://127.0.0.1:8080/v1)")).trim();
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new JarvisError("invalid_input", `"${base}" is not a URL.`);
    }
    const modelId = (await promptText("Model id")).trim();
    if (!modelId) throw new JarvisError("invalid_input", "A model id is required.");
    const compatibility = (await promptSelect("API compatibility", ["openai", "anthropic"])) === "anthropic" ? "anthropic" : "openai";
    const id = customProviderId(url, undefined);
    const c = { choice, provider: id, label: "API key", envVar: CUSTOM_ENV_VAR, defaultModel: `${id}/${modelId}` };
    const k = await askApiKey(ctx, c, `${id}:default`, isLoopbackUrl(url));
    const setDefault = await askDefault(c.defaultModel);
    plan = customPlan({ id, baseUrl: base, modelId, compatibility }, k.mode, k.store, k.value, setDefault);
  }
  await writePlan(ctx, plan, input.processEnv);
  await verifyPlan(input, plan);
  printResult(ctx, plan, false);
  logNextSteps();
  return 0;
}
