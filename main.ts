/**
 * jarvis CLI wiring: cac commands → handlers in lib/. No decisions live here.
 */
import { cac, type CAC } from "cac";
import pkg from "./package.json" with { type: "json" };
import { attachOptionValues, beforeDoubleDash, danglingValueOption, joinCommandWords, optionNames, rawOption, rawOptionValues, unknownOption } from "./lib/cli.ts";
import { EXIT, JarvisError, UsageError } from "./lib/errors.ts";
import { isLogLevel, log, printJson, setLogLevel } from "./lib/log.ts";
import { redact } from "./lib/mask.ts";
import { runModelsStatus } from "./lib/status-cmd.ts";
import { runSecretsAudit } from "./lib/audit-cmd.ts";
import { runGateway } from "./lib/gateway.ts";
import { runImport, runLogin, runRefresh } from "./lib/oauth-cmd.ts";
import { runAuthAdd } from "./lib/auth-add.ts";
import { runAuthList, runAuthRemove, runOrderClear, runOrderGet, runOrderSet, runPasteToken, runSetupToken } from "./lib/auth-cmd.ts";

declare const JARVIS_VERSION: string | undefined;
declare const JARVIS_TARGET: string | undefined;

/** argv after `attachOptionValues` (set in main before anything reads it). */
let args = process.argv.slice(2);
const cli: CAC = cac("jarvis");
let exitCode: number = EXIT.ok;

/** Context flags every command shares, read raw from argv (no numeric coercion). */
const contextInput = () => ({
  processEnv: { ...process.env },
  cwd: process.cwd(),
  profileFlag: rawOption(args, "profile"),
  agentFlag: rawOption(args, "agent"),
});

const PROBE_FLAGS = ["probe-provider", "probe-profile", "probe-timeout", "probe-concurrency", "probe-max-tokens"];

cli.option("--profile <name>", "Isolated state dir ~/.jarvis-<name>");
cli.option("--no-color", "Disable ANSI colours");
cli.option("--log-level <level>", "silent | error | warn | info | debug", { default: "info" });
cli.option("-V, --version", "Print the jarvis version");

cli
  .command("models", "Model configuration and auth health (same as models status)")
  .option("--status-json", "Same as models status --json")
  .option("--status-plain", "Same as models status --plain")
  .option("--agent <id>", "Agent id")
  .action(async (o: { statusJson?: boolean; statusPlain?: boolean }) => {
    exitCode = await runModelsStatus({ json: o.statusJson, plain: o.statusPlain, probeFlags: {} }, contextInput());
  });

cli
  .command("models status", "Show the model configuration and auth health of an agent")
  .option("--json", "One JSON document on stdout")
  .option("--plain", "Only the resolved default model ref")
  .option("--check", "Exit 1 when auth is expired/missing, 2 when expiring")
  .option("--warn-within <dur>", "Warn window (default 24h; bare number = hours)")
  .option("--agent <id>", "Agent id")
  .option("--resolve-exec", "Also resolve exec SecretRefs")
  .option("--probe", "Make live probe requests")
  .option("--probe-provider <id>", "Probe only this provider")
  .option("--probe-profile <id>", "Probe only these profiles (repeatable, comma list)")
  .option("--probe-timeout <ms>", "Probe timeout in ms (8000)")
  .option("--probe-concurrency <n>", "Providers probed in parallel (2)")
  .option("--probe-max-tokens <n>", "max_tokens of a probe (8)")
  .action(async (o: { json?: boolean; plain?: boolean; check?: boolean; resolveExec?: boolean; probe?: boolean }) => {
    const probeFlags = Object.fromEntries(PROBE_FLAGS.map((f) => [f, rawOptionValues(args, [f])]));
    exitCode = await runModelsStatus(
      { json: o.json, plain: o.plain, check: o.check, resolveExec: o.resolveExec, probe: o.probe, warnWithin: rawOption(args, "warn-within"), probeFlags },
      contextInput(),
    );
  });

cli
  .command("models auth list", "List auth profiles (no secrets)")
  .option("--provider <id>", "Only this provider")
  .option("--json", "One JSON document on stdout")
  .option("--agent <id>", "Agent id")
  .action(async (o: { json?: boolean }) => {
    exitCode = await runAuthList({ provider: rawOption(args, "provider"), json: o.json }, contextInput());
  });

cli
  .command("models auth add", "Add a credential interactively (TTY only)")
  .option("--agent <id>", "Agent id")
  .action(async () => {
    exitCode = await runAuthAdd(contextInput());
  });

cli
  .command("models auth paste-token", "Store a pasted token or API key (TTY prompt or stdin)")
  .option("--provider <id>", "Provider id (required)")
  .option("--profile-id <id>", "Profile id (default <provider>:manual)")
  .option("--type <type>", "token | api_key")
  .option("--expires-in <dur>", "Token lifetime (bare number = days)")
  .option("--agent <id>", "Agent id")
  .action(async () => {
    exitCode = await runPasteToken(
      { provider: rawOption(args, "provider"), profileId: rawOption(args, "profile-id"), type: rawOption(args, "type"), expiresIn: rawOption(args, "expires-in") },
      contextInput(),
    );
  });

cli
  .command("models auth setup-token", "Store an Anthropic setup-token (interactive)")
  .option("--provider <id>", "Only anthropic")
  .option("--profile-id <id>", "Profile id (default anthropic:manual)")
  .option("--yes", "Run claude setup-token without asking")
  .option("--agent <id>", "Agent id")
  .action(async (o: { yes?: boolean }) => {
    exitCode = await runSetupToken({ provider: rawOption(args, "provider"), profileId: rawOption(args, "profile-id"), yes: o.yes }, contextInput());
  });

cli
  .command("models auth remove <profileId>", "Remove an auth profile from the store and config")
  .option("--yes", "Do not ask for confirmation")
  .option("--agent <id>", "Agent id")
  .action(async (id: string, o: { yes?: boolean }) => {
    exitCode = await runAuthRemove(String(id), { yes: o.yes }, contextInput());
  });

cli
  .command("models auth order get", "Show the profile order of a provider")
  .option("--provider <id>", "Provider id (required)")
  .option("--json", "One JSON document on stdout")
  .option("--agent <id>", "Agent id")
  .action(async (o: { json?: boolean }) => {
    exitCode = await runOrderGet({ provider: rawOption(args, "provider"), json: o.json }, contextInput());
  });

cli
  .command("models auth order set [...profileIds]", "Set the per-agent profile order of a provider")
  .option("--provider <id>", "Provider id (required)")
  .option("--agent <id>", "Agent id")
  .action(async (ids: unknown[]) => {
    exitCode = await runOrderSet(ids.map(String), { provider: rawOption(args, "provider") }, contextInput());
  });

cli
  .command("models auth order clear", "Clear the per-agent profile order of a provider")
  .option("--provider <id>", "Provider id (required)")
  .option("--agent <id>", "Agent id")
  .action(async () => {
    exitCode = await runOrderClear({ provider: rawOption(args, "provider") }, contextInput());
  });

cli
  .command("secrets audit", "Scan for plaintext secrets, unresolved and shadowed refs, legacy files")
  .option("--check", "Exit 2 when there are findings")
  .option("--json", "One JSON document on stdout")
  .option("--allow-exec", "Also run exec secret providers")
  .action(async (o: { check?: boolean; json?: boolean; allowExec?: boolean }) => {
    exitCode = await runSecretsAudit(o, contextInput());
  });

cli
  .command("models auth login", "OAuth login (PKCE) for a provider")
  .option("--provider <id>", "Provider id (required)")
  .option("--profile-id <id>", "Profile id (default <provider>:<email>)")
  .option("--force", "Replace a still-valid profile without asking")
  .option("--no-browser", "Only print the URL")
  .option("--set-default", "Make the provider's default model the agent default")
  .option("--agent <id>", "Agent id")
  .action(async (o: { force?: boolean; browser?: boolean; setDefault?: boolean }) => {
    exitCode = await runLogin(
      { provider: rawOption(args, "provider"), profileId: rawOption(args, "profile-id"), force: o.force, noBrowser: o.browser === false, setDefault: o.setDefault },
      contextInput(),
    );
  });

cli
  .command("models auth refresh", "Refresh OAuth profiles now")
  .option("--profile-id <id>", "One profile")
  .option("--provider <id>", "All OAuth profiles of a provider")
  .option("--json", "One JSON document on stdout")
  .option("--agent <id>", "Agent id")
  .action(async (o: { json?: boolean }) => {
    exitCode = await runRefresh({ profileId: rawOption(args, "profile-id"), provider: rawOption(args, "provider"), json: o.json }, contextInput());
  });

cli
  .command("models auth import", "Import Claude Code or Codex CLI credentials (read-only)")
  .option("--from <cli>", "claude-code | codex (required)")
  .option("--profile-id <id>", "Profile id")
  .option("--agent <id>", "Agent id")
  .action(async () => {
    exitCode = await runImport({ from: rawOption(args, "from"), profileId: rawOption(args, "profile-id") }, contextInput());
  });

for (const name of ["gateway", "gateway run"]) {
  cli
    .command(name, "Run the OpenAI-compatible model gateway")
    .option("--port <n>", "Port (default 18789)")
    .option("--bind <addr>", "loopback | lan | <IP>")
    .option("--token <t>", "Client token (prefer JARVIS_GATEWAY_TOKEN)")
    .option("--agent <id>", "Agent id")
    .action(async () => {
      exitCode = await runGateway({ port: rawOption(args, "port"), bind: rawOption(args, "bind"), token: rawOption(args, "token") }, contextInput());
    });
}

// monitor (spec 10 §1); imported on use so that this block stays self-contained.
const monitorFlags = () => ({
  notifyCommand: rawOption(args, "notify-command"),
  ntfy: rawOption(args, "ntfy"),
  warnWithin: rawOption(args, "warn-within"),
});
for (const [name, about] of [
  ["monitor install", "Install the auth health monitor (systemd user timer, crontab line or Termux widget scripts)"],
  ["monitor uninstall", "Remove what monitor install created for --systemd, --cron or --termux"],
] as const) {
  const c = cli
    .command(name, about)
    .option("--systemd", "systemd user timer (every 30 min)")
    .option("--cron", "user crontab line (every 30 min)")
    .option("--termux", "Termux:Widget scripts")
    .option("--dry-run", "Print every file and command; write nothing");
  if (name === "monitor install") {
    c.option("--notify-command <cmd>", "Shell command run on alerts (message on stdin)")
      .option("--ntfy <url>", "ntfy topic URL to POST alerts to")
      .option("--warn-within <dur>", "Warn window (default 24h; bare number = hours)");
  }
  c.action(async (o: { systemd?: boolean; cron?: boolean; termux?: boolean; dryRun?: boolean }) => {
    const m = await import("./lib/monitor-cmd.ts");
    const flags = { systemd: o.systemd, cron: o.cron, termux: o.termux, dryRun: o.dryRun, ...monitorFlags() };
    exitCode = name === "monitor install" ? await m.runMonitorInstall(flags, contextInput()) : await m.runMonitorUninstall(flags, contextInput());
  });
}

cli
  .command("monitor run", "Check auth health once, notify at most once an hour (exit 0 ok, 2 expiring, 1 failed)")
  .option("--notify-command <cmd>", "Shell command run on alerts (message on stdin)")
  .option("--ntfy <url>", "ntfy topic URL to POST alerts to")
  .option("--warn-within <dur>", "Warn window (default 24h; bare number = hours)")
  .option("--json", "One JSON document on stdout")
  .action(async (o: { json?: boolean }) => {
    const { runMonitorRun } = await import("./lib/monitor-cmd.ts");
    exitCode = await runMonitorRun({ ...monitorFlags(), json: o.json, logLevel: rawOption(args, "log-level") }, contextInput());
  });

cli
  .command("doctor", "Diagnose auth, config and file problems; --fix repairs what it can")
  .option("--fix", "Apply the automatic repairs (backups are kept)")
  .option("--repair", "Same as --fix")
  .option("--json", "One JSON document on stdout")
  .option("--non-interactive", "Accepted for compatibility (doctor never prompts)")
  .option("--yes", "Accepted for compatibility (doctor never prompts)")
  .option("--skip-exec", "Do not run exec secret providers")
  .option("--agent <id>", "Agent id")
  .action(async (o: { fix?: boolean; repair?: boolean; json?: boolean; skipExec?: boolean }) => {
    const { runDoctor } = await import("./lib/doctor-cmd.ts");
    exitCode = await runDoctor({ fix: o.fix || o.repair, json: o.json, skipExec: o.skipExec }, contextInput());
  });

cli
  .command("onboard", "First-run setup: store a credential so that jarvis (and a daemon) can use it")
  .option("--non-interactive", "No prompts; inputs from flags, stdin (-) and the env")
  .option("--auth-choice <c>", "anthropic-api-key | setup-token | token | openai-api-key | gemini-api-key | … | skip")
  .option("--anthropic-api-key [key]", "Anthropic API key (- = stdin)")
  .option("--openai-api-key [key]", "OpenAI API key (- = stdin)")
  .option("--gemini-api-key [key]", "Gemini API key (- = stdin)")
  .option("--openrouter-api-key [key]", "OpenRouter API key (- = stdin)")
  .option("--groq-api-key [key]", "Groq API key (- = stdin)")
  .option("--xai-api-key [key]", "xAI API key (- = stdin)")
  .option("--mistral-api-key [key]", "Mistral API key (- = stdin)")
  .option("--together-api-key [key]", "Together API key (- = stdin)")
  .option("--deepseek-api-key [key]", "DeepSeek API key (- = stdin)")
  .option("--token [t]", "Token for setup-token / token (- = stdin)")
  .option("--token-provider <id>", "Provider of --auth-choice token")
  .option("--token-profile-id <id>", "Profile id of the token")
  .option("--token-expires-in <dur>", "Token lifetime (bare number = days)")
  .option("--secret-input-mode <mode>", "plaintext | ref")
  .option("--store <where>", "profile | env")
  .option("--set-default", "Make the provider's default model the default")
  .option("--custom-base-url <url>", "Custom endpoint base URL")
  .option("--custom-model-id <id>", "Custom endpoint model id")
  .option("--custom-provider-id <id>", "Custom provider id (default custom-<host>)")
  .option("--custom-compatibility <api>", "openai | anthropic")
  .option("--custom-api-key [key]", "Custom endpoint API key (- = stdin)")
  .option("--json", "One JSON document on stdout")
  .option("--agent <id>", "Agent id")
  .action(async () => {
    const { onboardFlags, runOnboard } = await import("./lib/onboard.ts");
    exitCode = await runOnboard(onboardFlags(args), contextInput());
  });

cli.command("help [...command]", "Show help for a command").action((words: string[]) => {
  const name = words.join(" ");
  const cmd = cli.commands.find((c) => c.name === name);
  if (name && !cmd) throw new UsageError(`Unknown command "${name}". Run jarvis --help.`);
  (cmd ?? cli.globalCommand).outputHelp();
});

cli.help();

function versionLine(): string {
  const version = typeof JARVIS_VERSION === "string" ? JARVIS_VERSION : pkg.version;
  const target = typeof JARVIS_TARGET === "string" ? JARVIS_TARGET : "dev";
  return `jarvis ${version} (bun ${Bun.version}, ${target})`;
}

function wantsJson(): boolean {
  const before = beforeDoubleDash(args);
  return before.includes("--json") || before.includes("--status-json");
}

async function main(): Promise<number> {
  const valueOptions = optionNames([cli.globalCommand, ...cli.commands].map((c) => ({ options: c.options.filter((o) => !o.isBoolean) })));
  args = attachOptionValues(args, valueOptions);
  const before = beforeDoubleDash(args);
  const level = rawOption(args, "log-level");
  if (level !== undefined) {
    if (!isLogLevel(level)) throw new UsageError(`Invalid --log-level "${level}" (use silent, error, warn, info or debug).`);
    setLogLevel(level);
  }
  const isHelp = before.includes("--help") || before.includes("-h");
  if (!isHelp && (before.includes("--version") || before.includes("-V"))) {
    process.stdout.write(versionLine() + "\n");
    return EXIT.ok;
  }
  const dangling = danglingValueOption(args, valueOptions);
  if (dangling) throw new UsageError(dangling === "provider" ? "Missing --provider." : `Option --${dangling} needs a value.`);
  const argv = joinCommandWords(args, cli.commands.map((c) => c.name), valueOptions);
  cli.parse([process.argv[0]!, "jarvis", ...argv], { run: false });
  if (isHelp) return EXIT.ok;
  if (cli.matchedCommand) {
    // cac accepts camelCase spellings (`--probeTimeout`) and names unknown options in camelCase: check the raw argv.
    const unknown = unknownOption(args, optionNames([cli.globalCommand, cli.matchedCommand]));
    if (unknown) throw new UsageError(`Unknown option \`${unknown}\`. Run jarvis --help.`);
  }
  if (!cli.matchedCommand) {
    const first = cli.args[0];
    if (first === undefined) {
      cli.outputHelp();
      return EXIT.ok;
    }
    throw new UsageError(`Unknown command "${first}". Run jarvis --help.`);
  }
  await cli.runMatchedCommand();
  return exitCode;
}

function fail(e: unknown): number {
  if (e instanceof JarvisError) {
    if (e.exitCode !== EXIT.usage && e.exitCode !== EXIT.cancelled && wantsJson()) {
      printJson({ ok: false, error: { code: e.code, message: redact(e.message) } });
    }
    log.error(e.message);
    return e.exitCode;
  }
  if (e instanceof Error && e.name === "CACError") {
    // A group command ("models") with leftover words means the sub-command does not exist.
    const unused = /^Unused args: (.*)$/.exec(e.message);
    const msg = unused && cli.matchedCommandName
      ? `Unknown command "${cli.matchedCommandName} ${unused[1]!.replace(/`/g, "").split(", ").join(" ")}". Run jarvis --help.`
      : `${e.message}. Run jarvis --help.`;
    process.stderr.write(redact(`error: ${msg}`) + "\n");
    return EXIT.usage;
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (wantsJson()) printJson({ ok: false, error: { code: "internal_error", message: redact(msg) } });
  log.error(`unexpected failure: ${msg}`);
  return EXIT.failure;
}

let code: number;
try {
  code = await main();
} catch (e) {
  code = fail(e);
}
process.exitCode = code;
