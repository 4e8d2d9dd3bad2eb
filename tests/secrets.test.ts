import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { SecretRef } from "../lib/secret-ref.ts";
import {
  describeSecretFailure,
  evaluateJsonPointer,
  planExecBatches,
  readSecretsSettings,
  resolveSecretRefs,
  validateSecretsConfig,
  type ResolveContext,
  type SecretResolution,
} from "../lib/secrets.ts";

// Every fixture secret contains this marker, so "no secret in any message" is one substring check.
const MARK = "s3cr3t";
let root = "";

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "jarvis-secrets-"));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

let seq = 0;
/** A fresh 0700 directory for one test. */
function dir(): string {
  const d = path.join(root, `t${++seq}`);
  fs.mkdirSync(d, { mode: 0o700 });
  return d;
}

/** Write a `#!/bin/sh` resolver with an explicit mode (chmod, so the umask cannot interfere). */
function script(d: string, name: string, body: string, mode = 0o700): string {
  const p = path.join(d, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`);
  fs.chmodSync(p, mode);
  return p;
}

function file(d: string, name: string, content: string, mode = 0o600): string {
  const p = path.join(d, name);
  fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
  return p;
}

/** chown to `nobody`; false when not permitted (not root), so the test can skip. */
function chownNobody(p: string): boolean {
  try {
    fs.chownSync(p, 65534, 65534);
    return true;
  } catch {
    return false;
  }
}

const ref = (source: SecretRef["source"], provider: string, id: string): SecretRef => ({ source, provider, id });
const key = (r: SecretRef) => `${r.source}:${r.provider}:${r.id}`;

function ctx(config: unknown, over: Partial<ResolveContext> = {}): ResolveContext {
  return { env: {}, home: root, config, allowExec: true, ...over };
}

/** Resolve and assert the D9 rule on every outcome: no error message contains any part of a fixture secret. */
async function resolve(refs: SecretRef[], c: ResolveContext): Promise<Map<string, SecretResolution>> {
  const out = await resolveSecretRefs(refs, c);
  for (const r of out.values()) if (!r.ok) expect(r.error.toLowerCase()).not.toContain(MARK);
  return out;
}

async function one(r: SecretRef, c: ResolveContext): Promise<SecretResolution> {
  return (await resolve([r], c)).get(key(r))!;
}

const execConfig = (alias: string, provider: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  secrets: { providers: { [alias]: { source: "exec", ...provider } }, ...extra },
});

// ---------------------------------------------------------------------------------------------------------------

describe("config validation (06 §3)", () => {
  test("every documented key passes", () => {
    const secrets = {
      providers: {
        default: { source: "env", allowlist: ["OPENAI_API_KEY", "OPENAI_WORK_KEY"] },
        filemain: {
          source: "file", path: "~/.jarvis/secrets.json", mode: "json", timeoutMs: 5000, maxBytes: 1048576,
          trustedDirs: ["/home/u/.jarvis"], allowInsecurePath: false,
        },
        single: { source: "file", path: "/run/secret", mode: "singleValue" },
        vault: {
          source: "exec", command: "/usr/local/bin/jarvis-vault", args: ["--profile", "prod"],
          passEnv: ["PATH", "VAULT_ADDR", "VAULT_TOKEN"], timeoutMs: 8000, noOutputTimeoutMs: 120000,
          maxOutputBytes: 20971520, jsonOnly: false, env: { VAULT_NAMESPACE: "x" }, trustedDirs: ["/usr/local/bin"],
          allowSymlinkCommand: true, allowInsecurePath: true,
        },
        // a documented key on a provider it does not apply to is not a schema error
        odd: { source: "env", allowInsecurePath: true, trustedDirs: ["/x"] },
      },
      defaults: { env: "default", file: "filemain", exec: "vault" },
      resolution: { maxProviderConcurrency: 16, maxRefsPerProvider: 4096, maxBatchBytes: 5 * 1024 * 1024 },
      futureKey: true,
    };
    expect(validateSecretsConfig(secrets)).toEqual([]);
    expect(validateSecretsConfig(undefined)).toEqual([]);
  });

  const p = (entry: Record<string, unknown>) => ({ providers: { p: entry } });
  const cases: Array<[string, unknown, string[]]> = [
    ["not an object", [], ["secrets: expected object"]],
    ["providers not an object", { providers: 3 }, ["secrets.providers: expected object"]],
    ["bad alias", { providers: { Vault: { source: "env" } } }, ["secrets.providers.Vault: invalid provider alias (expected /^[a-z][a-z0-9_-]{0,63}$/)"]],
    ["bad source", p({ source: "vault" }), ['secrets.providers.p.source: expected "env", "file" or "exec"']],
    ["missing source", p({}), ['secrets.providers.p.source: expected "env", "file" or "exec"']],
    ["file without path", p({ source: "file" }), ["secrets.providers.p.path: required for a file provider"]],
    ["exec without command", p({ source: "exec" }), ["secrets.providers.p.command: required for an exec provider"]],
    ["bad mode", p({ source: "file", path: "/x", mode: "yaml" }), ['secrets.providers.p.mode: expected "json" or "singleValue"']],
    ["timeoutMs 0", p({ source: "exec", command: "/x", timeoutMs: 0 }), ["secrets.providers.p.timeoutMs: expected integer 1-120000 (ms)"]],
    ["timeoutMs too big", p({ source: "exec", command: "/x", timeoutMs: 120001 }), ["secrets.providers.p.timeoutMs: expected integer 1-120000 (ms)"]],
    ["timeoutMs fractional", p({ source: "file", path: "/x", timeoutMs: 1.5 }), ["secrets.providers.p.timeoutMs: expected integer 1-120000 (ms)"]],
    ["maxBytes too big", p({ source: "file", path: "/x", maxBytes: 20971521 }), ["secrets.providers.p.maxBytes: expected integer 1-20971520 (bytes)"]],
    ["maxOutputBytes too big", p({ source: "exec", command: "/x", maxOutputBytes: 20971521 }), ["secrets.providers.p.maxOutputBytes: expected integer 1-20971520 (bytes)"]],
    ["noOutputTimeoutMs 0", p({ source: "exec", command: "/x", noOutputTimeoutMs: 0 }), ["secrets.providers.p.noOutputTimeoutMs: expected integer 1-120000 (ms)"]],
    ["too many args", p({ source: "exec", command: "/x", args: Array(129).fill("a") }), ["secrets.providers.p.args: expected at most 128 strings"]],
    ["arg too long", p({ source: "exec", command: "/x", args: ["a".repeat(1025)] }), ["secrets.providers.p.args.0: expected string of at most 1024 chars"]],
    ["passEnv bad name", p({ source: "exec", command: "/x", passEnv: ["path"] }), ["secrets.providers.p.passEnv.0: expected env var name matching /^[A-Z][A-Z0-9_]{0,127}$/"]],
    ["too many allowlist names", p({ source: "env", allowlist: Array(257).fill("A") }), ["secrets.providers.p.allowlist: expected at most 256 env var names"]],
    ["too many trustedDirs", p({ source: "exec", command: "/x", trustedDirs: Array(65).fill("/a") }), ["secrets.providers.p.trustedDirs: expected at most 64 directories"]],
    ["env map non-string", p({ source: "exec", command: "/x", env: { A: 1 } }), ["secrets.providers.p.env.A: expected string"]],
    ["jsonOnly not boolean", p({ source: "exec", command: "/x", jsonOnly: "no" }), ["secrets.providers.p.jsonOnly: expected boolean"]],
    ["bad default alias", { defaults: { env: "Env" } }, ["secrets.defaults.env: expected provider alias matching /^[a-z][a-z0-9_-]{0,63}$/"]],
    ["concurrency 17", { resolution: { maxProviderConcurrency: 17 } }, ["secrets.resolution.maxProviderConcurrency: expected integer 1-16"]],
    ["refs 4097", { resolution: { maxRefsPerProvider: 4097 } }, ["secrets.resolution.maxRefsPerProvider: expected integer 1-4096"]],
    ["batch 5 MiB + 1", { resolution: { maxBatchBytes: 5 * 1024 * 1024 + 1 } }, ["secrets.resolution.maxBatchBytes: expected integer 1-5242880 (bytes)"]],
  ];
  test.each(cases)("%s", (_name, secrets, want) => {
    expect(validateSecretsConfig(secrets)).toEqual(want);
  });

  test("settings fill defaults; invalid resolution values fall back", () => {
    const s = readSecretsSettings({
      secrets: {
        providers: { vault: { source: "exec", command: "/x", timeoutMs: 8000 }, bad: { source: "exec" } },
        defaults: { env: "Bad", file: "filemain" },
        resolution: { maxProviderConcurrency: 99, maxBatchBytes: 1000 },
      },
    });
    expect(s.providers.get("vault")).toEqual({
      ok: true,
      config: {
        source: "exec", command: "/x", args: [], timeoutMs: 8000, noOutputTimeoutMs: 8000, maxOutputBytes: 1048576,
        jsonOnly: true, env: {}, passEnv: [], trustedDirs: undefined, allowSymlinkCommand: false, allowInsecurePath: false,
      },
    });
    expect(s.providers.get("bad")).toEqual({ ok: false, problem: "secrets.providers.bad.command: required for an exec provider" });
    expect(s.defaults).toEqual({ file: "filemain" });
    expect(s.resolution).toEqual({ maxProviderConcurrency: 4, maxRefsPerProvider: 512, maxBatchBytes: 1000 });
    expect(readSecretsSettings(null).providers.size).toBe(0);
  });
});

describe("provider lookup and grouping (06 §4 steps 1–3)", () => {
  test("implicit default env provider, and the defaults.env alias", async () => {
    const env = { OPENAI_API_KEY: `sk-${MARK}-1` };
    expect(await one(ref("env", "default", "OPENAI_API_KEY"), ctx(null, { env }))).toEqual({ ok: true, value: `sk-${MARK}-1` });
    const c = ctx({ secrets: { defaults: { env: "envmain" } } }, { env });
    expect(await one(ref("env", "envmain", "OPENAI_API_KEY"), c)).toEqual({ ok: true, value: `sk-${MARK}-1` });
  });

  test("not configured / source mismatch / invalid provider config / invalid ref", async () => {
    const c = ctx({ secrets: { providers: { vault: { source: "exec", command: "/x" }, broken: { source: "file" } } } });
    const refs = [
      ref("env", "other", "A_KEY"),
      ref("file", "vault", "/a"),
      ref("file", "broken", "/a"),
      ref("file", "nothere", "value"),
      ref("env", "default", "bad-id"),
    ];
    const out = await resolve(refs, c);
    expect(out.get("env:other:A_KEY")).toEqual({ ok: false, error: 'Secret provider "other" is not configured (ref: env:other:A_KEY).' });
    expect(out.get("file:vault:/a")).toEqual({ ok: false, error: 'Secret provider "vault" has source "exec" but ref requests "file".' });
    expect(out.get("file:broken:/a")).toEqual({
      ok: false,
      error: 'Secret provider "broken" has an invalid configuration (secrets.providers.broken.path: required for a file provider).',
    });
    expect(out.get("file:nothere:value")).toEqual({ ok: false, error: 'Secret provider "nothere" is not configured (ref: file:nothere:value).' });
    expect(out.get("env:default:bad-id")?.ok).toBe(false);
    expect(out.size).toBe(5);
  });

  test("a declared `default` provider with another source wins over the implicit one", async () => {
    const c = ctx({ secrets: { providers: { default: { source: "file", path: "/nope" } } } }, { env: { A_KEY: "x" } });
    expect(await one(ref("env", "default", "A_KEY"), c)).toEqual({
      ok: false,
      error: 'Secret provider "default" has source "file" but ref requests "env".',
    });
  });

  test("duplicates are resolved once; maxRefsPerProvider fails the whole group", async () => {
    const env = { A_KEY: "a-value", B_KEY: "b-value", C_KEY: "c-value" };
    const dup = await resolve([ref("env", "default", "A_KEY"), ref("env", "default", "A_KEY")], ctx(null, { env }));
    expect(dup.size).toBe(1);
    const c = ctx({ secrets: { resolution: { maxRefsPerProvider: 2 } } }, { env });
    const out = await resolve([ref("env", "default", "A_KEY"), ref("env", "default", "B_KEY"), ref("env", "default", "C_KEY")], c);
    for (const r of out.values()) expect(r).toEqual({ ok: false, error: 'Secret provider "default" exceeded maxRefsPerProvider (2).' });
  });

  test("describeSecretFailure wording (06 §5 example)", () => {
    expect(describeSecretFailure(ref("env", "default", "OPENAI_WORK_KEY"), 'Environment variable "OPENAI_WORK_KEY" is missing or empty.')).toBe(
      'Failed to resolve env:default:OPENAI_WORK_KEY (Environment variable "OPENAI_WORK_KEY" is missing or empty.).',
    );
  });
});

describe("env provider (06 §4.1)", () => {
  const config = { secrets: { providers: { strict: { source: "env", allowlist: ["OPENAI_API_KEY", "BLANK_KEY"] } } } };
  const env = { OPENAI_API_KEY: `  "sk-${MARK}-env"  `, OTHER_KEY: `sk-${MARK}-other`, BLANK_KEY: "   ", CURLY_KEY: `\u201csk-${MARK}\u201d` };
  const cases: Array<[SecretRef, SecretResolution]> = [
    [ref("env", "strict", "OPENAI_API_KEY"), { ok: true, value: `sk-${MARK}-env` }],
    [ref("env", "strict", "OTHER_KEY"), { ok: false, error: 'Environment variable "OTHER_KEY" is not allowlisted in secrets.providers.strict.allowlist.' }],
    [ref("env", "strict", "BLANK_KEY"), { ok: false, error: 'Environment variable "BLANK_KEY" is missing or empty.' }],
    [ref("env", "default", "MISSING_KEY"), { ok: false, error: 'Environment variable "MISSING_KEY" is missing or empty.' }],
    [ref("env", "default", "OTHER_KEY"), { ok: true, value: `sk-${MARK}-other` }],
    [ref("env", "default", "CURLY_KEY"), { ok: false, error: 'Secret reference "env:default:CURLY_KEY" resolved to a non-string or empty value.' }],
  ];
  test.each(cases)("%o", async (r, want) => {
    expect(await one(r, ctx(config, { env }))).toEqual(want);
  });
});

describe("file provider (06 §4.2)", () => {
  const doc = { "a/b": { "c~d": { arr: ["zero", `sk-${MARK}-file`] } }, providers: { openai: { apiKey: `sk-${MARK}-oa` } }, n: 5 };

  test("json mode: nested pointers with ~0/~1, array index, errors", async () => {
    const d = dir();
    const p = file(d, "secrets.json", JSON.stringify(doc));
    const c = ctx({ secrets: { providers: { fm: { source: "file", path: p } } } });
    const out = await resolve(
      [
        ref("file", "fm", "/a~1b/c~0d/arr/1"),
        ref("file", "fm", "/providers/openai/apiKey"),
        ref("file", "fm", "/providers/nope"),
        ref("file", "fm", "/a~1b/c~0d/arr/2"),
        ref("file", "fm", "/a~1b/c~0d/arr/x"),
        ref("file", "fm", "/providers/openai/apiKey/deeper"),
        ref("file", "fm", "/n"),
        ref("file", "fm", "value"),
      ],
      c,
    );
    expect(out.get("file:fm:/a~1b/c~0d/arr/1")).toEqual({ ok: true, value: `sk-${MARK}-file` });
    expect(out.get("file:fm:/providers/openai/apiKey")).toEqual({ ok: true, value: `sk-${MARK}-oa` });
    expect(out.get("file:fm:/providers/nope")).toEqual({ ok: false, error: 'JSON pointer segment "nope" does not exist.' });
    expect(out.get("file:fm:/a~1b/c~0d/arr/2")).toEqual({ ok: false, error: 'JSON pointer segment "2" is out of bounds.' });
    expect(out.get("file:fm:/a~1b/c~0d/arr/x")).toEqual({ ok: false, error: 'JSON pointer segment "x" does not exist.' });
    expect(out.get("file:fm:/providers/openai/apiKey/deeper")).toEqual({ ok: false, error: 'JSON pointer segment "deeper" does not exist.' });
    expect(out.get("file:fm:/n")).toEqual({ ok: false, error: 'Secret reference "file:fm:/n" resolved to a non-string or empty value.' });
    expect(out.get("file:fm:value")?.ok).toBe(false);
  });

  test.each([
    ["/a~1b/c~0d", { ok: true, value: doc["a/b"]["c~d"] }],
    ["/", { ok: false, error: 'JSON pointer segment "" does not exist.' }],
    ["/a~1b/c~0d/arr/01", { ok: false, error: 'JSON pointer segment "01" does not exist.' }],
  ] as const)("evaluateJsonPointer %p", (pointer, want) => {
    expect(evaluateJsonPointer(doc, pointer)).toEqual(want);
  });

  test("json mode: payload must be a JSON object; parse errors never quote content", async () => {
    const d = dir();
    for (const content of [`{"k": sk-${MARK}-broken}`, `["sk-${MARK}"]`]) {
      const p = file(d, "s.json", content);
      const c = ctx({ secrets: { providers: { fm: { source: "file", path: p } } } });
      expect(await one(ref("file", "fm", "/k"), c)).toEqual({ ok: false, error: 'File provider "fm" payload is not a JSON object.' });
    }
  });

  test.each([
    ["LF", `sk-${MARK}-single\n`],
    ["CRLF", `sk-${MARK}-single\r\n`],
    ["no newline", `sk-${MARK}-single`],
  ])("singleValue with %s", async (_n, content) => {
    const p = file(dir(), "token", content);
    const c = ctx({ secrets: { providers: { sv: { source: "file", path: p, mode: "singleValue" } } } });
    expect(await one(ref("file", "sv", "value"), c)).toEqual({ ok: true, value: `sk-${MARK}-single` });
    expect(await one(ref("file", "sv", "/value"), c)).toEqual({ ok: false, error: 'singleValue file provider "sv" expects ref id "value".' });
  });

  test("singleValue keeps inner text; only one trailing newline is removed", async () => {
    const p = file(dir(), "token", "Bearer abc\n\n");
    const c = ctx({ secrets: { providers: { sv: { source: "file", path: p, mode: "singleValue" } } } });
    // The normaliser (value mode) then drops the remaining newline; inner spaces survive.
    expect(await one(ref("file", "sv", "value"), c)).toEqual({ ok: true, value: "Bearer abc" });
  });

  test("~ in path expands against the given home", async () => {
    const home = dir();
    fs.mkdirSync(path.join(home, ".jarvis"), { mode: 0o700 });
    file(path.join(home, ".jarvis"), "secrets.json", JSON.stringify(doc));
    const c = ctx({ secrets: { providers: { fm: { source: "file", path: "~/.jarvis/secrets.json" } } } }, { home });
    expect(await one(ref("file", "fm", "/providers/openai/apiKey"), c)).toEqual({ ok: true, value: `sk-${MARK}-oa` });
  });

  test("world-readable file is rejected (mode & 0o077 must be 0) unless allowInsecurePath", async () => {
    const p = file(dir(), "s.json", JSON.stringify(doc), 0o644);
    const r = ref("file", "fm", "/providers/openai/apiKey");
    expect(await one(r, ctx({ secrets: { providers: { fm: { source: "file", path: p } } } }))).toEqual({
      ok: false,
      error: `secrets.providers.fm.path ${p} permissions are too open (644); run chmod 600 ${p}.`,
    });
    const insecure = ctx({ secrets: { providers: { fm: { source: "file", path: p, allowInsecurePath: true } } } });
    expect(await one(r, insecure)).toEqual({ ok: true, value: `sk-${MARK}-oa` });
  });

  test("group-readable file is rejected too", async () => {
    const p = file(dir(), "s.json", JSON.stringify(doc), 0o640);
    const r = await one(ref("file", "fm", "/n"), ctx({ secrets: { providers: { fm: { source: "file", path: p } } } }));
    expect(r).toEqual({ ok: false, error: `secrets.providers.fm.path ${p} permissions are too open (640); run chmod 600 ${p}.` });
  });

  test("path checks: relative, missing, symlink, directory, trustedDirs, maxBytes", async () => {
    const d = dir();
    const real = file(d, "real.json", JSON.stringify(doc));
    const link = path.join(d, "link.json");
    fs.symlinkSync(real, link);
    const missing = path.join(d, "missing.json");
    const other = dir();
    const fm = (extra: Record<string, unknown>) => ctx({ secrets: { providers: { fm: { source: "file", ...extra } } } });
    const r = ref("file", "fm", "/n");
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ path: "relative/secrets.json" }, "secrets.providers.fm.path must be an absolute path."],
      [{ path: "~user/secrets.json" }, "secrets.providers.fm.path must be an absolute path."],
      [{ path: missing }, `secrets.providers.fm.path ${missing} is not readable.`],
      [{ path: link }, `secrets.providers.fm.path ${link} must not be a symlink.`],
      [{ path: link, allowInsecurePath: true }, `secrets.providers.fm.path ${link} must not be a symlink.`],
      [{ path: d }, `secrets.providers.fm.path ${d} must be a file.`],
      [{ path: real, trustedDirs: [other] }, `secrets.providers.fm.path ${real} is outside trustedDirs.`],
      [{ path: real, trustedDirs: ["relative"] }, "secrets.providers.fm.trustedDirs entries must be absolute paths."],
      [{ path: real, maxBytes: 10 }, 'File provider "fm" exceeded maxBytes (10).'],
    ];
    for (const [extra, error] of cases) expect(await one(r, fm(extra))).toEqual({ ok: false, error });
    expect(await one(r, fm({ path: real, trustedDirs: [other, d] }))).toEqual({ ok: false, error: 'Secret reference "file:fm:/n" resolved to a non-string or empty value.' });
  });

  test("file owned by another user is rejected unless allowInsecurePath", async () => {
    const p = file(dir(), "s.json", JSON.stringify(doc));
    if (!chownNobody(p)) return; // not root: cannot create the fixture
    const r = ref("file", "fm", "/providers/openai/apiKey");
    expect(await one(r, ctx({ secrets: { providers: { fm: { source: "file", path: p } } } }))).toEqual({
      ok: false,
      error: `secrets.providers.fm.path ${p} must be owned by the current user (uid=${process.getuid!()}).`,
    });
    const insecure = ctx({ secrets: { providers: { fm: { source: "file", path: p, allowInsecurePath: true } } } });
    expect(await one(r, insecure)).toEqual({ ok: true, value: `sk-${MARK}-oa` });
  });

  test("one read serves every ref of the provider; a failure fails them all", async () => {
    const d = dir();
    const c = ctx({ secrets: { providers: { fm: { source: "file", path: path.join(d, "gone.json") } } } });
    const out = await resolve([ref("file", "fm", "/a"), ref("file", "fm", "/b")], c);
    expect([...out.values()].map((r) => r.ok)).toEqual([false, false]);
  });
});

describe("exec provider (06 §4.3)", () => {
  const GOOD_VALUES = `{"providers/openai/apiKey":"sk-${MARK}-exec-oa","providers/anthropic/apiKey":"sk-${MARK}-exec-an"}`;
  const goodBody = (log: string) =>
    [
      "read -r request",
      `printf '%s\\n' "$request" >> '${log}'`,
      `printf 'cwd=%s\\n' "$(pwd)" >> '${log}'`,
      `printf '{"protocolVersion":1,"values":${GOOD_VALUES}}\\n'`,
    ].join("\n");

  test("good resolver: request on stdin, values on stdout, cwd = command dir, one process per provider", async () => {
    const d = dir();
    const log = path.join(d, "requests.log");
    const cmd = script(d, "resolver", goodBody(log));
    const c = ctx(execConfig("vault", { command: cmd }));
    const refs = [ref("exec", "vault", "providers/openai/apiKey"), ref("exec", "vault", "providers/anthropic/apiKey")];
    const out = await resolve(refs, c);
    expect(out.get(key(refs[0]!))).toEqual({ ok: true, value: `sk-${MARK}-exec-oa` });
    expect(out.get(key(refs[1]!))).toEqual({ ok: true, value: `sk-${MARK}-exec-an` });
    const lines = fs.readFileSync(log, "utf8").trim().split("\n");
    expect(lines).toEqual([
      '{"protocolVersion":1,"provider":"vault","ids":["providers/openai/apiKey","providers/anthropic/apiKey"]}',
      `cwd=${fs.realpathSync(d)}`,
    ]);
  });

  test("exec refs are skipped (configured, not resolved) when exec is not allowed — nothing runs", async () => {
    const d = dir();
    const log = path.join(d, "requests.log");
    const cmd = script(d, "resolver", goodBody(log));
    const r = await one(ref("exec", "vault", "providers/openai/apiKey"), ctx(execConfig("vault", { command: cmd }), { allowExec: false }));
    expect(r).toEqual({ ok: false, skipped: true, error: "configured, not resolved" });
    expect(fs.existsSync(log)).toBe(false);
  });

  test("child env: empty, then passEnv names present in the effective env, then the env map", async () => {
    const d = dir();
    const cmd = script(
      d,
      "print-env",
      [
        "read -r request",
        "names=$(/usr/bin/env | /usr/bin/cut -d= -f1 | /usr/bin/tr '\\n' ' ')",
        `printf '{"protocolVersion":1,"values":{"names":"%s","override":"%s"}}\\n' "$names" "$OVERRIDE_ME"`,
      ].join("\n"),
    );
    const c = ctx(
      execConfig("vault", { command: cmd, passEnv: ["PASS_ME", "OVERRIDE_ME", "NOT_SET", "BLANK_ONE"], env: { OVERRIDE_ME: "from-map", FROM_MAP: "1" } }),
      { env: { PASS_ME: "passed", OVERRIDE_ME: "from-env", AMBIENT_SECRET: `sk-${MARK}`, BLANK_ONE: " ", HOME: "/h", PATH: "/usr/bin" } },
    );
    const out = await resolve([ref("exec", "vault", "names"), ref("exec", "vault", "override")], c);
    const names = (out.get("exec:vault:names") as { value: string }).value.split(" ").filter(Boolean).sort();
    // /bin/sh itself may add PWD, SHLVL, OLDPWD or `_`; nothing else from jarvis's own env or the effective env.
    const shellOwn = new Set(["PWD", "SHLVL", "OLDPWD", "_"]);
    expect(names.filter((n) => !shellOwn.has(n))).toEqual(["FROM_MAP", "OVERRIDE_ME", "PASS_ME"]);
    expect(out.get("exec:vault:override")).toEqual({ ok: true, value: "from-map" });
  });

  test("timeoutMs: a resolver that sleeps is killed", async () => {
    const d = dir();
    const cmd = script(d, "sleeper", "read -r request\n/bin/sleep 10\nprintf '{}'");
    const started = Date.now();
    const r = await one(ref("exec", "slow", "x"), ctx(execConfig("slow", { command: cmd, timeoutMs: 300 })));
    expect(r).toEqual({ ok: false, error: 'Exec provider "slow" timed out after 300ms.' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test("noOutputTimeoutMs: silence is fatal, but every chunk re-arms the timer", async () => {
    const d = dir();
    const silent = script(d, "silent", `read -r request\nprintf 'working' >&2\n/bin/sleep 10`);
    const r = await one(ref("exec", "quiet", "x"), ctx(execConfig("quiet", { command: silent, timeoutMs: 10000, noOutputTimeoutMs: 300 })));
    expect(r).toEqual({ ok: false, error: 'Exec provider "quiet" produced no output for 300ms.' });

    const chatty = script(
      d,
      "chatty",
      `read -r request\nfor i in 1 2 3 4 5 6; do printf '.' >&2; /bin/sleep 0.1; done\nprintf '{"protocolVersion":1,"values":{"x":"ok-value"}}'`,
    );
    const ok = await one(ref("exec", "chatty", "x"), ctx(execConfig("chatty", { command: chatty, timeoutMs: 10000, noOutputTimeoutMs: 400 })));
    expect(ok).toEqual({ ok: true, value: "ok-value" });
  });

  test("maxOutputBytes: stdout flood and stderr flood are both capped (stdout + stderr combined)", async () => {
    const d = dir();
    const out = script(d, "flood-out", `read -r request\n/usr/bin/yes '${MARK}-flood'`);
    expect(await one(ref("exec", "fl", "x"), ctx(execConfig("fl", { command: out, maxOutputBytes: 4096 })))).toEqual({
      ok: false,
      error: 'Exec provider "fl" output exceeded maxOutputBytes (4096).',
    });
    const err = script(d, "flood-err", `read -r request\nwhile :; do printf '${MARK}-stderr-flood' >&2; done`);
    expect(await one(ref("exec", "fl", "x"), ctx(execConfig("fl", { command: err, maxOutputBytes: 4096 })))).toEqual({
      ok: false,
      error: 'Exec provider "fl" output exceeded maxOutputBytes (4096).',
    });
  });

  const responses: Array<[string, string, boolean, string]> = [
    ["invalid JSON", `not json sk-${MARK}-leak`, true, 'Exec provider "p" returned invalid JSON.'],
    ["empty stdout", "   ", true, 'Exec provider "p" returned empty stdout.'],
    ["array", `["sk-${MARK}"]`, true, 'Exec provider "p" response must be an object.'],
    ["wrong protocol", `{"protocolVersion":2,"values":{"x":"sk-${MARK}"}}`, true, 'Exec provider "p" protocolVersion must be 1.'],
    ["no values", `{"protocolVersion":1}`, true, 'Exec provider "p" response missing "values".'],
    ["missing id", `{"protocolVersion":1,"values":{}}`, true, 'Exec provider "p" response missing id "x".'],
    ["non-string value", `{"protocolVersion":1,"values":{"x":42}}`, true, 'Secret reference "exec:p:x" resolved to a non-string or empty value.'],
    ["empty value", `{"protocolVersion":1,"values":{"x":"  "}}`, true, 'Secret reference "exec:p:x" resolved to a non-string or empty value.'],
    ["jsonOnly:false still needs an object when output is JSON-object-shaped", `{"values":{}}`, false, 'Exec provider "p" protocolVersion must be 1.'],
  ];
  test.each(responses)("response: %s", async (_n, stdout, jsonOnly, error) => {
    const d = dir();
    file(d, "out.txt", stdout);
    const cmd = script(d, "resolver", `read -r request\n/bin/cat '${path.join(d, "out.txt")}'`);
    expect(await one(ref("exec", "p", "x"), ctx(execConfig("p", { command: cmd, jsonOnly })))).toEqual({ ok: false, error });
  });

  test.each([
    ["raw text", `sk-${MARK}-raw\n`],
    ["JSON string", `"sk-${MARK}-raw"`],
  ])("jsonOnly:false with one id: %s is the value", async (_n, stdout) => {
    const d = dir();
    file(d, "out.txt", stdout);
    const cmd = script(d, "resolver", `read -r request\n/bin/cat '${path.join(d, "out.txt")}'`);
    expect(await one(ref("exec", "p", "x"), ctx(execConfig("p", { command: cmd, jsonOnly: false })))).toEqual({ ok: true, value: `sk-${MARK}-raw` });
  });

  test("jsonOnly:false with two ids still requires the JSON protocol", async () => {
    const d = dir();
    const cmd = script(d, "resolver", `read -r request\nprintf 'sk-${MARK}-raw'`);
    const out = await resolve([ref("exec", "p", "x"), ref("exec", "p", "y")], ctx(execConfig("p", { command: cmd, jsonOnly: false })));
    for (const r of out.values()) expect(r).toEqual({ ok: false, error: 'Exec provider "p" returned invalid JSON.' });
  });

  test("per-id errors: code shown only when well-formed, message never shown", async () => {
    const d = dir();
    const body =
      `{"protocolVersion":1,"values":{"good":"sk-${MARK}-good","both":"sk-${MARK}-both"},` +
      `"errors":{"nf":{"code":"NOT_FOUND","message":"no item sk-${MARK}-in-message"},"weird":{"code":"bad code ${MARK}","message":"x"},` +
      `"both":{"code":"DENIED"},"plain":"sk-${MARK}-as-string"}}`;
    file(d, "out.json", body);
    const cmd = script(d, "resolver", `read -r request\n/bin/cat '${path.join(d, "out.json")}'`);
    const ids = ["good", "nf", "weird", "both", "plain", "absent"];
    const out = await resolve(ids.map((id) => ref("exec", "vault", id)), ctx(execConfig("vault", { command: cmd })));
    expect(Object.fromEntries([...out].map(([k, v]) => [k, v]))).toEqual({
      "exec:vault:good": { ok: true, value: `sk-${MARK}-good` },
      "exec:vault:nf": { ok: false, error: 'Exec provider "vault" failed for id "nf" (code NOT_FOUND).' },
      "exec:vault:weird": { ok: false, error: 'Exec provider "vault" failed for id "weird".' },
      "exec:vault:both": { ok: false, error: 'Exec provider "vault" failed for id "both" (code DENIED).' },
      "exec:vault:plain": { ok: false, error: 'Exec provider "vault" failed for id "plain".' },
      "exec:vault:absent": { ok: false, error: 'Exec provider "vault" response missing id "absent".' },
    });
  });

  test("non-zero exit: code reported, stderr never echoed", async () => {
    const d = dir();
    const cmd = script(d, "fails", `read -r request\nprintf 'token sk-${MARK}-in-stderr' >&2\nexit 3`);
    expect(await one(ref("exec", "p", "x"), ctx(execConfig("p", { command: cmd })))).toEqual({ ok: false, error: 'Exec provider "p" exited with code 3.' });
  });

  test("a resolver that never reads stdin still works (EPIPE ignored)", async () => {
    const d = dir();
    const cmd = script(d, "deaf", `printf '{"protocolVersion":1,"values":{"x":"deaf-value"}}'`);
    expect(await one(ref("exec", "p", "x"), ctx(execConfig("p", { command: cmd })))).toEqual({ ok: true, value: "deaf-value" });
  });

  test("args are passed as argv without a shell", async () => {
    const d = dir();
    const cmd = script(d, "args", `read -r request\nprintf '{"protocolVersion":1,"values":{"x":"%s|%s"}}' "$1" "$2"`);
    const c = ctx(execConfig("p", { command: cmd, args: ["a b", "$(echo injected);"] }));
    expect(await one(ref("exec", "p", "x"), c)).toEqual({ ok: true, value: "a b|$(echo injected);" });
  });

  describe("command checks", () => {
    const ok = '{"protocolVersion":1,"values":{"x":"fine"}}';
    const body = `read -r request\nprintf '${ok}'`;

    test("symlinked command: rejected unless allowSymlinkCommand, then the target is checked", async () => {
      const d = dir();
      const target = script(d, "target", body);
      const link = path.join(d, "link");
      fs.symlinkSync(target, link);
      const r = ref("exec", "p", "x");
      expect(await one(r, ctx(execConfig("p", { command: link })))).toEqual({
        ok: false,
        error: `Exec provider "p" command ${link} is a symlink; set allowSymlinkCommand: true to allow it (its target is checked).`,
      });
      expect(await one(r, ctx(execConfig("p", { command: link, allowSymlinkCommand: true })))).toEqual({ ok: true, value: "fine" });
      fs.chmodSync(target, 0o720);
      expect(await one(r, ctx(execConfig("p", { command: link, allowSymlinkCommand: true })))).toEqual({
        ok: false,
        error: `Exec provider "p" command ${target} must not be group- or world-writable (720).`,
      });
    });

    test("group- or world-writable command is rejected unless allowInsecurePath", async () => {
      const d = dir();
      const r = ref("exec", "p", "x");
      for (const [mode, shown] of [[0o770, "770"], [0o702, "702"]] as const) {
        const cmd = script(d, `w${shown}`, body, mode);
        expect(await one(r, ctx(execConfig("p", { command: cmd })))).toEqual({
          ok: false,
          error: `Exec provider "p" command ${cmd} must not be group- or world-writable (${shown}).`,
        });
        expect(await one(r, ctx(execConfig("p", { command: cmd, allowInsecurePath: true })))).toEqual({ ok: true, value: "fine" });
      }
    });

    test("command owned by another user is rejected unless allowInsecurePath", async () => {
      const d = dir();
      const cmd = script(d, "foreign", body);
      if (!chownNobody(cmd)) return; // not root: cannot create the fixture
      const r = ref("exec", "p", "x");
      expect(await one(r, ctx(execConfig("p", { command: cmd })))).toEqual({
        ok: false,
        error: `Exec provider "p" command ${cmd} must be owned by the current user (uid=${process.getuid!()}) or root.`,
      });
      expect(await one(r, ctx(execConfig("p", { command: cmd, allowInsecurePath: true })))).toEqual({ ok: true, value: "fine" });
    });

    test("relative, missing, directory, not executable, trustedDirs", async () => {
      const d = dir();
      const cmd = script(d, "resolver", body);
      const noexec = script(d, "noexec", body, 0o600);
      const missing = path.join(d, "missing");
      const other = dir();
      const r = ref("exec", "p", "x");
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ command: "bin/resolver" }, 'Exec provider "p" command bin/resolver must be an absolute path.'],
        [{ command: missing }, `Exec provider "p" command ${missing} does not exist or is not accessible.`],
        [{ command: d }, `Exec provider "p" command ${d} must be a regular file.`],
        [{ command: noexec }, `Exec provider "p" command ${noexec} is not executable by the current user.`],
        [{ command: cmd, trustedDirs: [other] }, `Exec provider "p" command ${cmd} is outside trustedDirs.`],
      ];
      for (const [extra, error] of cases) expect(await one(r, ctx(execConfig("p", extra)))).toEqual({ ok: false, error });
      expect(await one(r, ctx(execConfig("p", { command: cmd, trustedDirs: [other, d] })))).toEqual({ ok: true, value: "fine" });
    });

    test("root-owned system binaries pass the owner rule", async () => {
      if (process.getuid?.() !== 0 && fs.statSync("/bin/sh").uid !== 0) return;
      // /bin/cat echoes the request: the owner check passes, then the response lacks "values".
      const real = fs.realpathSync("/bin/cat");
      const r = await one(ref("exec", "p", "x"), ctx(execConfig("p", { command: real })));
      expect(r).toEqual({ ok: false, error: 'Exec provider "p" response missing "values".' });
    });
  });

  describe("batching (maxBatchBytes)", () => {
    test("planExecBatches splits by request size, in order", () => {
      const base = `{"protocolVersion":1,"provider":"v","ids":[]}\n`.length; // 46
      expect(planExecBatches("v", ["a", "b", "c"], 1000)).toEqual({ batches: [["a", "b", "c"]], oversized: [] });
      // `"a"` = 3 bytes, `,"b"` = 4 bytes
      expect(planExecBatches("v", ["a", "b", "c"], base + 7)).toEqual({ batches: [["a", "b"], ["c"]], oversized: [] });
      expect(planExecBatches("v", ["a", "b", "c"], base + 6)).toEqual({ batches: [["a"], ["b"], ["c"]], oversized: [] });
      expect(planExecBatches("v", ["a", "long-id", "c"], base + 4)).toEqual({ batches: [["a"], ["c"]], oversized: ["long-id"] });
    });

    test("a provider's ids are sent in several requests; an oversized id fails alone", async () => {
      const d = dir();
      const log = path.join(d, "requests.log");
      const values = Object.fromEntries(["id-1", "id-2", "id-3", "id-4"].map((id) => [id, `v-${id}`]));
      const cmd = script(d, "resolver", `read -r request\nprintf '%s\\n' "$request" >> '${log}'\nprintf '${JSON.stringify({ protocolVersion: 1, values })}'`);
      const base = `{"protocolVersion":1,"provider":"v","ids":[]}\n`.length;
      const c = ctx(execConfig("v", { command: cmd }, { resolution: { maxBatchBytes: base + 13 } }));
      const ids = ["id-1", "id-2", "id-3", "id-4", "this-id-is-too-long"];
      const out = await resolve(ids.map((id) => ref("exec", "v", id)), c);
      expect(out.get("exec:v:id-1")).toEqual({ ok: true, value: "v-id-1" });
      expect(out.get("exec:v:id-4")).toEqual({ ok: true, value: "v-id-4" });
      expect(out.get("exec:v:this-id-is-too-long")).toEqual({ ok: false, error: `Exec provider "v" request exceeded maxBatchBytes (${base + 13}).` });
      expect(fs.readFileSync(log, "utf8").trim().split("\n")).toEqual([
        '{"protocolVersion":1,"provider":"v","ids":["id-1","id-2"]}',
        '{"protocolVersion":1,"provider":"v","ids":["id-3","id-4"]}',
      ]);
    });
  });

  test("providers run concurrently up to maxProviderConcurrency", async () => {
    const d = dir();
    // Each resolver waits (up to its timeout) until the other one has started.
    const waiter = (me: string, other: string) =>
      script(
        d,
        `wait-${me}`,
        `read -r request\n: > '${path.join(d, me)}'\nwhile [ ! -e '${path.join(d, other)}' ]; do /bin/sleep 0.02; done\nprintf '{"protocolVersion":1,"values":{"x":"${me}"}}'`,
      );
    const providers = {
      pa: { source: "exec", command: waiter("a", "b"), timeoutMs: 1500 },
      pb: { source: "exec", command: waiter("b", "a"), timeoutMs: 1500 },
    };
    const refs = [ref("exec", "pa", "x"), ref("exec", "pb", "x")];
    const parallel = await resolve(refs, ctx({ secrets: { providers, resolution: { maxProviderConcurrency: 2 } } }));
    expect([...parallel.values()]).toEqual([{ ok: true, value: "a" }, { ok: true, value: "b" }]);
    fs.rmSync(path.join(d, "a"));
    fs.rmSync(path.join(d, "b"));
    const serial = await resolve(refs, ctx({ secrets: { providers, resolution: { maxProviderConcurrency: 1 } } }));
    expect(serial.get("exec:pa:x")).toEqual({ ok: false, error: 'Exec provider "pa" timed out after 1500ms.' });
    expect(serial.get("exec:pb:x")).toEqual({ ok: true, value: "b" });
  });
});
