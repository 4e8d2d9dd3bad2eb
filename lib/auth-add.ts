/**
 * `models auth add` (spec 05 §3): an interactive helper that asks for a provider, a method, a profile id and, for
 * tokens, an expiry, then runs exactly the flow of the matching command (paste-token, setup-token, login, import).
 */
import { PROVIDER_ID, runPasteToken, runSetupToken } from "./auth-cmd.ts";
import { loadContext, type ContextInput } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { JarvisError, UsageError } from "./errors.ts";
import { log } from "./log.ts";
import { oauthProviderIds } from "./oauth.ts";
import { runImport, runLogin } from "./oauth-cmd.ts";
import { confirm, isInteractive, promptSelect, promptText } from "./prompt.ts";
import { CATALOG, normalizeProviderId } from "./providers.ts";
import { isValidProfileId } from "./store.ts";

const CUSTOM = "custom (type an id)";

/** Methods offered for a provider (05 §3). */
function methodsFor(provider: string, oauthProviders: readonly string[]): string[] {
  const m = ["API key (paste)", "token (paste)"];
  if (provider === "anthropic") m.push("setup-token", "import from Claude Code");
  if (oauthProviders.includes(provider)) m.push("OAuth login");
  if (provider === "openai-codex") m.push("import from Codex CLI");
  return m;
}

/**
 * Run the wizard. @returns the exit code of the delegated flow
 * @throws JarvisError no_tty without a terminal; CancelledError on Ctrl+C (exit 130, nothing written)
 */
export async function runAuthAdd(input: ContextInput): Promise<number> {
  if (!isInteractive()) throw new JarvisError("no_tty", "models auth add is interactive; use paste-token, setup-token, login or import");
  const ctx = loadContext(input);
  const oauth = oauthProviderIds(ctx.config);
  const providers = CATALOG.filter((e) => e.api !== null && e.api !== "status-only").map((e) => e.id);
  let provider = await promptSelect("Provider", [...providers, CUSTOM]);
  if (provider === CUSTOM) {
    provider = normalizeProviderId(await promptText("Provider id"));
    if (!PROVIDER_ID.test(provider)) throw new UsageError(`Invalid provider id "${provider}".`);
  }
  const method = await promptSelect("Method", methodsFor(provider, oauth));
  if (method === "import from Claude Code") return runImport({ from: "claude-code" }, input);
  if (method === "import from Codex CLI") return runImport({ from: "codex" }, input);
  const isKey = method === "API key (paste)";
  const fallbackId = isKey ? `${provider}:default` : `${provider}:manual`;
  let profileId = await promptText("Profile id", fallbackId);
  while (!isValidProfileId(profileId)) {
    log.warn("A profile id has 1-128 characters and no whitespace, \"/\" or control characters.");
    profileId = await promptText("Profile id", fallbackId);
  }
  if (method === "OAuth login") return runLogin({ provider, profileId }, input);
  if (method === "setup-token") return runSetupToken({ provider, profileId }, input);
  let expiresIn: string | undefined;
  if (!isKey && (await confirm("Does it expire? [y/N]", false))) {
    for (;;) {
      expiresIn = await promptText("Expires in", "365d");
      try {
        parseDuration(expiresIn, "d");
        break;
      } catch {
        log.warn("Invalid duration (e.g. 365d, 12h, 30m)");
      }
    }
  }
  return runPasteToken({ provider, profileId, type: isKey ? "api_key" : "token", expiresIn }, input);
}
