// Effective-env building blocks (spec 02 §1): config `env` block rules, dangerous names, source application.
import { describe, expect, test } from "bun:test";
import { applyEnvSource, configEnvVars, isDangerousEnvName, isTruthy, type EnvEntry, type Warning } from "../lib/env.ts";

describe("configEnvVars", () => {
  test("vars first, then top-level strings; names trimmed; vars/shellEnv keys are not names", () => {
    expect(
      configEnvVars({
        vars: { " A_KEY ": "from-vars", B: "b" },
        A_KEY: "top-level-loses",
        C: "c",
        shellEnv: { enabled: true },
        vars2: 5,
      }),
    ).toEqual({ A_KEY: "from-vars", B: "b", C: "c" });
  });

  const skipped: Array<[name: string, value: unknown]> = [
    ["EMPTY", ""],
    ["BLANK", "   "],
    ["REF", "${OTHER}"],
    ["REF_INSIDE", "pre-${OTHER}-post"],
    ["1STARTS_WITH_DIGIT", "x"],
    ["HAS-DASH", "x"],
    ["NUMBER", 5],
    ["PATH", "/evil"],
    ["NODE_OPTIONS", "--require /evil"],
    ["JARVIS_STATE_DIR", "/elsewhere"],
    ["JARVIS_AGENT_DIR", "/elsewhere"],
    ["LD_PRELOAD", "/evil.so"],
    ["DYLD_INSERT_LIBRARIES", "/evil"],
    ["BASH_FUNC_x%%", "() { :; }"],
    ["GIT_CONFIG_GLOBAL", "/evil"],
    ["NPM_CONFIG_PREFIX", "/evil"],
  ];
  test.each(skipped)("%p is skipped", (name, value) => {
    expect(configEnvVars({ vars: { [name]: value } })).toEqual({});
    expect(configEnvVars({ [name]: value })).toEqual({});
  });

  test("names that exist on Object.prototype are ordinary names", () => {
    expect(configEnvVars({ vars: { toString: "t", constructor: "c" } })).toEqual({ toString: "t", constructor: "c" });
  });

  test("non-object blocks give nothing", () => {
    expect(configEnvVars(undefined)).toEqual({});
    expect(configEnvVars("A=1")).toEqual({});
  });
});

describe("isDangerousEnvName / isTruthy", () => {
  test.each(["HOME", "SHELL", "ZDOTDIR", "BASH_ENV", "ENV", "IFS", "PS4", "PROMPT_COMMAND", "EDITOR", "SSLKEYLOGFILE", "JARVIS_HOME", "JARVIS_PROFILE", "JARVIS_CONFIG_PATH"])(
    "%p is dangerous",
    (n) => {
      expect(isDangerousEnvName(n)).toBe(true);
    },
  );
  test.each(["OPENAI_API_KEY", "JARVIS_GATEWAY_TOKEN", "JARVIS_LOAD_SHELL_ENV", "MY_PATH", "LDX"])("%p is not", (n) => {
    expect(isDangerousEnvName(n)).toBe(false);
  });
  const truthy: Array<[string | undefined, boolean]> = [
    ["1", true],
    ["true", true],
    ["YES", true],
    [" On ", true],
    ["0", false],
    ["false", false],
    ["", false],
    [undefined, false],
    ["enabled", false],
  ];
  test.each(truthy)("isTruthy(%p) = %p", (v, want) => {
    expect(isTruthy(v)).toBe(want);
  });
});

describe("applyEnvSource", () => {
  test("fills only unset names; blank counts as unset; credential names normalised; lists kept raw", () => {
    const acc = new Map<string, EnvEntry>([["OPENAI_API_KEY", { value: "higher", origin: "process" }]]);
    const warnings: Warning[] = [];
    const applied = applyEnvSource(
      acc,
      "state-dotenv",
      { OPENAI_API_KEY: "lower", GROQ_API_KEY: " 'gsk-quoted'\r\n", GROQ_API_KEYS: "a, b", OTHER: " raw value ", BLANK: " " },
      warnings,
      "~/.jarvis/.env",
    );
    expect(applied).toEqual(["GROQ_API_KEY", "GROQ_API_KEYS", "OTHER"]);
    expect(acc.get("OPENAI_API_KEY")).toEqual({ value: "higher", origin: "process" });
    expect(acc.get("GROQ_API_KEY")).toEqual({ value: "gsk-quoted", origin: "state-dotenv" });
    expect(acc.get("GROQ_API_KEYS")!.value).toBe("a, b");
    expect(acc.get("OTHER")!.value).toBe(" raw value ");
    expect(acc.has("BLANK")).toBe(false);
    expect(warnings).toEqual([]);
  });

  test("a rejected credential value stays unset and is reported without the value", () => {
    const acc = new Map<string, EnvEntry>();
    const warnings: Warning[] = [];
    applyEnvSource(acc, "process", { ANTHROPIC_API_KEY: "export ANTHROPIC_API_KEY=sk-TESTFAKE-123" }, warnings, "env");
    expect(acc.size).toBe(0);
    expect(warnings).toEqual([
      { code: "env.invalid_value", message: "ANTHROPIC_API_KEY from env is not used: input looks like a shell command, not a secret" },
    ]);
  });
});
