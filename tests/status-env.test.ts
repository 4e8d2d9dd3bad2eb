// `jarvis models status` end to end: where env credentials come from (spec 02 §1, §1.2, §4; 04 §2).
// Every run uses the compiled binary with only HOME and PATH (like cron), checks it wrote nothing, and scans its
// output for every fixture secret.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { cleanupSandboxes, fake, sandbox } from "./helpers.ts";
import { fakeSecret, lineStarting, providerOf, runRO, scratchDir, writeScript } from "./status-helpers.ts";

afterAll(cleanupSandboxes);
const tmp = scratchDir;

// One OPENAI_API_KEY value per source, distinguishable by their last 4 chars in the mask.
const V = {
  process: fakeSecret("sk-proj-", 36, "1111"),
  cwd: fakeSecret("sk-proj-", 36, "2222"),
  state: fakeSecret("sk-proj-", 36, "3333"),
  config: fakeSecret("sk-proj-", 36, "4444"),
  shell: fakeSecret("sk-proj-", 36, "5555"),
};
const ALL = Object.values(V);

describe("single sources", () => {
  test("process env only", async () => {
    const sb = sandbox();
    const [j, t] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY: fake.openaiKey }, secrets: [fake.openaiKey] }),
      runRO(sb, ["models", "status"], { env: { OPENAI_API_KEY: fake.openaiKey }, secrets: [fake.openaiKey] }),
    ]);
    expect(j.code).toBe(0);
    expect(providerOf(j.doc, "openai")).toEqual({
      provider: "openai",
      inUse: false,
      effective: { kind: "env", detail: "sk-proj-…cdef" },
      profiles: { count: 0, oauth: 0, token: 0, apiKey: 0, labels: [] },
      env: { value: "sk-proj-…cdef", source: "env: OPENAI_API_KEY", origin: "process", keyCount: 1, shadowed: false },
    });
    expect(j.doc.auth.storeStatus).toBe("missing");
    expect(t.code).toBe(0);
    expect(lineStarting(t.stdout, "- openai ")).toBe("- openai effective=env:sk-proj-…cdef | env=sk-proj-…cdef | source=env: OPENAI_API_KEY (env)");
  });

  test("state-dir .env only (read from cwd /), satisfies the provider in use", async () => {
    const sb = sandbox();
    sb.write(path.join(sb.state, ".env"), `ANTHROPIC_API_KEY=${fake.anthropicKey}\n`);
    const [j, t] = await Promise.all([
      runRO(sb, ["models", "status", "--json", "--check"], { secrets: [fake.anthropicKey] }),
      runRO(sb, ["models", "status"], { secrets: [fake.anthropicKey] }),
    ]);
    expect(j.code).toBe(0);
    expect(providerOf(j.doc, "anthropic").env).toEqual({
      value: "sk-ant-a…abcd",
      source: "env: ANTHROPIC_API_KEY",
      origin: "state-dotenv",
      keyCount: 1,
      shadowed: false,
    });
    expect(j.doc.auth.missingProvidersInUse).toEqual([]);
    expect(j.doc.check).toEqual({ exitCode: 0, warnWithinMs: 86_400_000, failures: [], warnings: [] });
    expect(lineStarting(t.stdout, "- anthropic ")).toEndWith("| source=env: ANTHROPIC_API_KEY (~/.jarvis/.env)");
  });

  test("cwd .env is read from the current directory only", async () => {
    const sb = sandbox();
    const dir = tmp();
    const groq = fake.groq(7);
    fs.writeFileSync(path.join(dir, ".env"), `GROQ_API_KEY=${groq}\n`);
    const [inDir, atRoot, text] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { cwd: dir, secrets: [groq], extraRoots: [dir] }),
      runRO(sb, ["models", "status", "--json"], { secrets: [groq] }),
      runRO(sb, ["models", "status"], { cwd: dir, secrets: [groq], extraRoots: [dir] }),
    ]);
    expect(providerOf(inDir.doc, "groq").env).toEqual({
      value: "gsk_TEST…qkey",
      source: "env: GROQ_API_KEY",
      origin: "cwd-dotenv",
      keyCount: 1,
      shadowed: false,
    });
    expect(providerOf(atRoot.doc, "groq")).toBeUndefined();
    expect(lineStarting(text.stdout, "- groq ")).toEndWith("| source=env: GROQ_API_KEY (./.env)");
  });

  test("config env block: vars first, then top-level names; dangerous names, ${…} values and bad names skipped", async () => {
    const sb = sandbox();
    const mistral = fakeSecret("mistral-", 30, "mmmm");
    const xai = fakeSecret("xai-", 28, "xxxx");
    const loser = fakeSecret("xai-", 28, "LOSE");
    const elsewhere = tmp();
    sb.writeConfig({
      env: {
        vars: {
          MISTRAL_API_KEY: mistral,
          " XAI_API_KEY ": xai,
          JARVIS_STATE_DIR: elsewhere,
          JARVIS_AGENT_DIR: elsewhere,
          LD_PRELOAD: "/nonexistent.so",
          DEEPSEEK_API_KEY: "${DEEPSEEK_REAL}",
          "1BAD": "x",
          TOGETHER_API_KEY: "",
        },
        XAI_API_KEY: loser,
        CEREBRAS_API_KEY: "${NOT_SET_ANYWHERE}",
        shellEnv: { enabled: false },
      },
    });
    const r = await runRO(sb, ["models", "status", "--json"], { secrets: [mistral, xai, loser], extraRoots: [elsewhere] });
    expect(r.code).toBe(0);
    expect(r.doc.configPath).toBe(sb.configPath);
    expect(r.doc.agentDir).toBe(sb.agentDir);
    expect(providerOf(r.doc, "mistral").env).toMatchObject({ value: "mistral-…mmmm", origin: "config-env", source: "env: MISTRAL_API_KEY" });
    expect(providerOf(r.doc, "xai").env).toMatchObject({ value: "xai-TEST…xxxx", origin: "config-env" });
    for (const p of ["deepseek", "cerebras", "together"]) expect(providerOf(r.doc, p)).toBeUndefined();
  });

  test("credential values are normalised (value mode): quotes, CR/LF and edge whitespace removed", async () => {
    const sb = sandbox();
    const r = await runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY: ` '${V.process}'\r\n` }, secrets: ALL });
    expect(providerOf(r.doc, "openai").env).toMatchObject({ value: "sk-proj-…1111", origin: "process" });
    expect(r.doc.auth.warnings).toEqual([]);
  });

  test("token env var: OAuth (env) and counted in providersWithOAuth", async () => {
    const sb = sandbox();
    const r = await runRO(sb, ["models", "status", "--json", "--check"], {
      env: { ANTHROPIC_OAUTH_TOKEN: fake.anthropicToken, ANTHROPIC_API_KEY: fake.anthropicKey },
      secrets: [fake.anthropicToken, fake.anthropicKey],
    });
    expect(r.code).toBe(0);
    expect(r.doc.auth.providersWithOAuth).toEqual(["anthropic (1)"]);
    expect(providerOf(r.doc, "anthropic").effective).toEqual({ kind: "env", detail: "OAuth (env)" });
    expect(providerOf(r.doc, "anthropic").env).toMatchObject({ value: "sk-ant-o…wxyz", source: "env: ANTHROPIC_OAUTH_TOKEN", keyCount: 2 });
  });

  test("GOOGLE_API_KEY feeds google; GEMINI_API_KEY goes first", async () => {
    const sb = sandbox();
    const g = "AIzaSyTESTFAKE0123456789abcdefGGGG";
    const m = fakeSecret("gem-", 30, "MMMM");
    const [only, both] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { GOOGLE_API_KEY: g }, secrets: [g] }),
      runRO(sb, ["models", "status", "--json"], { env: { GOOGLE_API_KEY: g, GEMINI_API_KEY: m }, secrets: [g, m] }),
    ]);
    expect(providerOf(only.doc, "google").env).toMatchObject({ value: "AIzaSyTE…GGGG", source: "env: GOOGLE_API_KEY", keyCount: 1 });
    expect(providerOf(both.doc, "google").env).toMatchObject({ value: "gem-TEST…MMMM", source: "env: GEMINI_API_KEY", keyCount: 2 });
  });
});

describe("precedence (02 §1)", () => {
  /** A sandbox where OPENAI_API_KEY is defined in cwd .env, state .env and config env; returns the cwd dir. */
  function layered() {
    const sb = sandbox();
    const dir = tmp();
    fs.writeFileSync(path.join(dir, ".env"), `OPENAI_API_KEY=${V.cwd}\n`);
    sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY=${V.state}\n`);
    sb.writeConfig({ env: { vars: { OPENAI_API_KEY: V.config } } });
    return { sb, dir };
  }
  const origin = (r: { doc?: any }) => providerOf(r.doc, "openai").env;

  test("process > ./.env > $STATE/.env > config env", async () => {
    const { sb, dir } = layered();
    const opts = { secrets: ALL, extraRoots: [dir] };
    const [p, c, s] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { ...opts, cwd: dir, env: { OPENAI_API_KEY: V.process } }),
      runRO(sb, ["models", "status", "--json"], { ...opts, cwd: dir }),
      runRO(sb, ["models", "status", "--json"], opts),
    ]);
    expect(origin(p)).toMatchObject({ origin: "process", value: "sk-proj-…1111" });
    expect(origin(c)).toMatchObject({ origin: "cwd-dotenv", value: "sk-proj-…2222" });
    expect(origin(s)).toMatchObject({ origin: "state-dotenv", value: "sk-proj-…3333" });
    fs.rmSync(path.join(sb.state, ".env"));
    const g = await runRO(sb, ["models", "status", "--json"], opts);
    expect(origin(g)).toMatchObject({ origin: "config-env", value: "sk-proj-…4444" });
  });

  test("spec example: an empty or blank process value does not hide the state .env", async () => {
    const sb = sandbox();
    const live = "sk-live-1234567890abcdef1234";
    sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY=${live}\n`);
    const [empty, blank, text] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY: "" }, secrets: [live] }),
      runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY: " \t " }, secrets: [live] }),
      runRO(sb, ["models", "status"], { env: { OPENAI_API_KEY: "" }, secrets: [live] }),
    ]);
    for (const r of [empty, blank]) expect(origin(r)).toMatchObject({ origin: "state-dotenv", value: "sk-live-…1234" });
    expect(lineStarting(text.stdout, "- openai ")).toContain("source=env: OPENAI_API_KEY (~/.jarvis/.env)");
  });

  test("empty and whitespace values in .env files count as unset", async () => {
    const { sb, dir } = layered();
    fs.writeFileSync(path.join(dir, ".env"), `OPENAI_API_KEY=\nGROQ_API_KEY="   "\nMISTRAL_API_KEY=''\n`);
    sb.write(path.join(sb.state, ".env"), "OPENAI_API_KEY=   \n");
    const r = await runRO(sb, ["models", "status", "--json"], { cwd: dir, secrets: ALL, extraRoots: [dir] });
    expect(origin(r)).toMatchObject({ origin: "config-env", value: "sk-proj-…4444" });
    expect(providerOf(r.doc, "groq")).toBeUndefined();
    expect(providerOf(r.doc, "mistral")).toBeUndefined();
  });

  test("a value the normaliser rejects is not used, a lower source fills the name, and a warning names the var only", async () => {
    const { sb } = layered();
    const bad = "\u201c" + V.process + "\u201d";
    const r = await runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY: bad }, secrets: [...ALL, bad] });
    expect(origin(r)).toMatchObject({ origin: "state-dotenv", value: "sk-proj-…3333" });
    const w = r.doc.auth.warnings.filter((x: any) => x.code === "env.invalid_value");
    expect(w).toHaveLength(1);
    expect(w[0].message).toContain("OPENAI_API_KEY");
    expect(w[0].message).toContain("U+201C at position 1");
    expect(r.stderr).toContain(w[0].message);
  });

  test(".env syntax: export prefix, quotes, inline comment, CRLF and BOM", async () => {
    const sb = sandbox();
    const a = fakeSecret("k-", 26, "AAAA");
    const b = fakeSecret("k-", 26, "BB#B");
    const c = fakeSecret("k-", 26, "CCCC");
    const d = fakeSecret("k-", 26, "DDDD");
    sb.write(
      path.join(sb.state, ".env"),
      `\uFEFFexport GROQ_API_KEY=${a}\r\nMISTRAL_API_KEY="${b}"\r\n# comment line\r\nXAI_API_KEY=${c} # trailing comment\r\nDEEPSEEK_API_KEY='${d}'\r\n`,
    );
    const r = await runRO(sb, ["models", "status", "--json"], { secrets: [a, b, c, d] });
    expect(providerOf(r.doc, "groq").env.value).toBe("k-TESTFA…AAAA");
    expect(providerOf(r.doc, "mistral").env.value).toBe("k-TESTFA…BB#B");
    expect(providerOf(r.doc, "xai").env.value).toBe("k-TESTFA…CCCC");
    expect(providerOf(r.doc, "deepseek").env.value).toBe("k-TESTFA…DDDD");
  });

  test("JARVIS_STATE_DIR moves the .env that is read", async () => {
    const sb = sandbox();
    const state = tmp();
    fs.writeFileSync(path.join(state, ".env"), `OPENAI_API_KEY=${V.state}\n`);
    sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY=${V.cwd}\n`);
    const [j, t] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { JARVIS_STATE_DIR: state }, secrets: ALL, extraRoots: [state] }),
      runRO(sb, ["models", "status"], { env: { JARVIS_STATE_DIR: state }, secrets: ALL, extraRoots: [state] }),
    ]);
    expect(origin(j)).toMatchObject({ origin: "state-dotenv", value: "sk-proj-…3333" });
    expect(j.doc.configPath).toBe(path.join(state, "jarvis.json"));
    expect(lineStarting(t.stdout, "- openai ")).toContain(`(${state}/.env)`);
  });
});

describe("env key lists (02 §4.1)", () => {
  test("spec example: <BASE>_API_KEYS with duplicates, plain key, natural-order suffixes", async () => {
    const sb = sandbox();
    const k = [1, 2, 3, 4, 5].map((n) => fake.groq(n));
    const env = { GROQ_API_KEYS: `${k[0]}; ${k[1]} ${k[0]}`, GROQ_API_KEY: k[2], GROQ_API_KEY_10: k[4], GROQ_API_KEY_9: k[3] };
    const [j, t, live] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env, secrets: k }),
      runRO(sb, ["models", "status"], { env, secrets: k }),
      runRO(sb, ["models", "status", "--json"], { env: { ...env, JARVIS_LIVE_GROQ_KEY: fake.groq(99) }, secrets: [...k, fake.groq(99)] }),
    ]);
    expect(providerOf(j.doc, "groq").env).toEqual({ value: "gsk_TEST…qkey", source: "env: GROQ_API_KEYS", origin: "process", keyCount: 5, shadowed: false });
    expect(lineStarting(t.stdout, "- groq ")).toContain("env=gsk_TEST…qkey (+4 more)");
    expect(providerOf(live.doc, "groq").env).toMatchObject({ source: "env: JARVIS_LIVE_GROQ_KEY", keyCount: 1 });
  });

  test("_API_KEY_2 is shown before _API_KEY_10; duplicates across sources count once", async () => {
    const sb = sandbox();
    const k2 = fakeSecret("sk-two-", 30, "0002");
    const k10 = fakeSecret("sk-ten-", 30, "0010");
    sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY_10=${k10}\nOPENAI_API_KEYS=${k10},${k2}\n`);
    const r = await runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY_2: k2 }, secrets: [k2, k10] });
    // Order: the list var first (k10, k2), then the suffix vars — values already seen are dropped.
    expect(providerOf(r.doc, "openai").env).toEqual({
      value: "sk-ten-T…0010",
      source: "env: OPENAI_API_KEYS",
      origin: "state-dotenv",
      keyCount: 2,
      shadowed: false,
    });
    sb.write(path.join(sb.state, ".env"), `OPENAI_API_KEY_10=${k10}\n`);
    const r2 = await runRO(sb, ["models", "status", "--json"], { env: { OPENAI_API_KEY_2: k2 }, secrets: [k2, k10] });
    expect(providerOf(r2.doc, "openai").env).toEqual({ value: "sk-two-T…0002", source: "env: OPENAI_API_KEY_2", origin: "process", keyCount: 2, shadowed: false });
  });

  test("a list of blanks is no credential; a bad list element is dropped and reported", async () => {
    const sb = sandbox();
    const good = fake.groq(3);
    const [blank, mixed] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { GROQ_API_KEYS: " ,; \n " } }),
      runRO(sb, ["models", "status", "--json"], { env: { GROQ_API_KEYS: `\u201cbad\u201d,${good}` }, secrets: [good] }),
    ]);
    expect(providerOf(blank.doc, "groq")).toBeUndefined();
    expect(providerOf(mixed.doc, "groq").env).toMatchObject({ keyCount: 1, value: "gsk_TEST…qkey" });
    expect(mixed.doc.auth.warnings.map((w: any) => w.code)).toEqual(["env.invalid_value"]);
    expect(mixed.doc.auth.warnings[0].message).toContain("GROQ_API_KEYS");
  });
});

describe("login-shell import (02 §1.2)", () => {
  /** A fake login shell that records its invocation in `marker` and prints NUL-separated env entries. */
  function fakeShell(entries: string[]) {
    const dir = tmp();
    const marker = path.join(dir, "ran");
    const data = path.join(dir, "env0");
    fs.writeFileSync(data, entries.join("\0") + "\0");
    const shell = writeScript(dir, "fakesh", `echo "$@" > '${marker}'\ncat '${data}'`);
    return { dir, shell, marker };
  }
  const together = fakeSecret("tog-", 30, "TTTT");
  const groq2 = fake.groq(2);
  const entries = [`TOGETHER_API_KEY=${together}`, `GROQ_API_KEY_2=${groq2}`, `OPENAI_API_KEY=${V.shell}`, "UNRELATED_VAR=1", "=skipped", "NOEQUALS", "MISTRAL_API_KEY=   "];

  test("on: fills only missing expected keys, origin shell, runs `-l -c env -0`", async () => {
    const sb = sandbox();
    const { shell, marker } = fakeShell(entries);
    const env = { JARVIS_LOAD_SHELL_ENV: "yes", SHELL: shell, OPENAI_API_KEY: V.process };
    const [j, t] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env, secrets: [...ALL, together, groq2] }),
      runRO(sb, ["models", "status"], { env, secrets: [...ALL, together, groq2] }),
    ]);
    expect(fs.readFileSync(marker, "utf8").trim()).toBe("-l -c env -0");
    expect(j.doc.auth.shellEnvFallback).toEqual({ enabled: true, appliedKeys: ["GROQ_API_KEY_2", "TOGETHER_API_KEY"] });
    expect(providerOf(j.doc, "together").env).toMatchObject({ origin: "shell", value: "tog-TEST…TTTT" });
    expect(providerOf(j.doc, "groq").env).toMatchObject({ origin: "shell", source: "env: GROQ_API_KEY_2" });
    expect(providerOf(j.doc, "openai").env).toMatchObject({ origin: "process", value: "sk-proj-…1111" });
    expect(providerOf(j.doc, "mistral")).toBeUndefined();
    expect(lineStarting(t.stdout, "Shell env     :")).toBe("Shell env     : on (applied: GROQ_API_KEY_2, TOGETHER_API_KEY)");
    expect(lineStarting(t.stdout, "- together ")).toContain("(login shell)");
  });

  test("off: the shell is never started", async () => {
    const sb = sandbox();
    const { shell, marker } = fakeShell(entries);
    const [j, t] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { SHELL: shell, JARVIS_LOAD_SHELL_ENV: "0" }, secrets: [together, groq2, V.shell] }),
      runRO(sb, ["models", "status"], { env: { SHELL: shell }, secrets: [together, groq2, V.shell] }),
    ]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(j.doc.auth.shellEnvFallback).toEqual({ enabled: false, appliedKeys: [] });
    expect(providerOf(j.doc, "together")).toBeUndefined();
    expect(lineStarting(t.stdout, "Shell env     :")).toBe("Shell env     : off");
  });

  test("enabled by config env.shellEnv.enabled; lower than config env vars", async () => {
    const sb = sandbox();
    const { shell } = fakeShell(entries);
    sb.writeConfig({ env: { shellEnv: { enabled: true }, vars: { TOGETHER_API_KEY: V.config } } });
    const r = await runRO(sb, ["models", "status", "--json"], { env: { SHELL: shell }, secrets: [...ALL, together, groq2] });
    expect(r.doc.auth.shellEnvFallback).toEqual({ enabled: true, appliedKeys: ["GROQ_API_KEY_2", "OPENAI_API_KEY"] });
    expect(providerOf(r.doc, "together").env).toMatchObject({ origin: "config-env", value: "sk-proj-…4444" });
    expect(providerOf(r.doc, "openai").env).toMatchObject({ origin: "shell", value: "sk-proj-…5555" });
  });

  test("child env: dangerous names (PATH included) removed, HOME = resolved home; the switch may come from ~/.jarvis/.env", async () => {
    const sb = sandbox();
    const dir = tmp();
    const seen = path.join(dir, "seen-env");
    const data = path.join(dir, "env0");
    fs.writeFileSync(data, `TOGETHER_API_KEY=${together}\0`);
    const shell = writeScript(dir, "envsh", `env > '${seen}'\ncat '${data}'`);
    // JARVIS_HOME=~/svc below moves the state dir to ~/svc/.jarvis.
    sb.write(path.join(sb.home, "svc", ".jarvis", ".env"), "JARVIS_LOAD_SHELL_ENV=on\n");
    const r = await runRO(sb, ["models", "status", "--json"], {
      env: {
        SHELL: shell,
        PATH: "/usr/bin:/bin:/jv-danger-path",
        BASH_ENV: "/jv-danger/bash_env",
        ENV: "/jv-danger/env",
        LD_PRELOAD: "/jv-danger/preload.so",
        NODE_OPTIONS: "--jv-danger",
        KEEP_ME: "kept",
        JARVIS_HOME: "~/svc",
      },
      secrets: [together],
    });
    const childEnv = fs.readFileSync(seen, "utf8");
    expect(childEnv).not.toContain("jv-danger");
    expect(childEnv).not.toMatch(/^(PATH|SHELL|JARVIS_HOME)=/m);
    expect(childEnv).toContain("KEEP_ME=kept\n");
    expect(childEnv).toContain(`HOME=${path.join(sb.home, "svc")}\n`);
    expect(r.doc.auth.shellEnvFallback).toEqual({ enabled: true, appliedKeys: ["TOGETHER_API_KEY"] });
  });

  test("output larger than 2 MiB aborts the import with a warning", async () => {
    const sb = sandbox();
    const dir = tmp();
    const shell = writeScript(dir, "bigsh", `printf 'TOGETHER_API_KEY=${together}\\0'\nhead -c 2200000 /dev/zero | tr '\\0' 'a'`);
    const r = await runRO(sb, ["models", "status", "--json"], { env: { SHELL: shell, JARVIS_LOAD_SHELL_ENV: "TRUE" }, secrets: [together] });
    expect(r.code).toBe(0);
    expect(r.doc.auth.shellEnvFallback).toEqual({ enabled: true, appliedKeys: [] });
    expect(providerOf(r.doc, "together")).toBeUndefined();
    expect(r.doc.auth.warnings.find((x: any) => x.code === "shell_env_failed").message).toStartWith("shell env import failed: ");
  });

  test("a shell that hangs is killed after JARVIS_SHELL_ENV_TIMEOUT_MS; status still succeeds", async () => {
    const sb = sandbox();
    const dir = tmp();
    const shell = writeScript(dir, "slowsh", "sleep 20 &\nwait");
    const started = Date.now();
    const r = await runRO(sb, ["models", "status", "--json"], {
      env: { JARVIS_LOAD_SHELL_ENV: "1", SHELL: shell, JARVIS_SHELL_ENV_TIMEOUT_MS: "300", OPENAI_API_KEY: V.process },
      secrets: ALL,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.code).toBe(0);
    expect(r.doc.auth.shellEnvFallback).toEqual({ enabled: true, appliedKeys: [] });
    const w = r.doc.auth.warnings.find((x: any) => x.code === "shell_env_failed");
    expect(w.message).toStartWith("shell env import failed: ");
    expect(w.message).toContain("300");
    expect(r.stderr).toContain("warning: shell env import failed: ");
    expect(providerOf(r.doc, "openai").env.origin).toBe("process");
  });

  test("config env.shellEnv.timeoutMs beats JARVIS_SHELL_ENV_TIMEOUT_MS; a failing shell is a warning", async () => {
    const sb = sandbox();
    const dir = tmp();
    sb.writeConfig({ env: { shellEnv: { enabled: true, timeoutMs: 250 } } });
    const slow = writeScript(dir, "slowsh", "exec sleep 20");
    const failing = writeScript(dir, "failsh", "exit 3");
    const started = Date.now();
    const [s, f] = await Promise.all([
      runRO(sb, ["models", "status", "--json"], { env: { SHELL: slow, JARVIS_SHELL_ENV_TIMEOUT_MS: "20000" } }),
      runRO(sb, ["models", "status", "--json"], { env: { SHELL: failing } }),
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(s.doc.auth.warnings.find((x: any) => x.code === "shell_env_failed").message).toContain("250");
    expect(f.code).toBe(0);
    expect(f.doc.auth.warnings.find((x: any) => x.code === "shell_env_failed").message).toStartWith("shell env import failed: ");
  });
});
