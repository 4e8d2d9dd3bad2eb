// The /model picker (07 §4.2) only offers entries that /model <n> can select.
import { describe, expect, test } from "bun:test";
import type { JarvisConfig } from "../lib/config.ts";
import { pickerEntries } from "../lib/directives.ts";
import { modelChain } from "../lib/models.ts";

describe("pickerEntries", () => {
  const base: JarvisConfig = {
    agents: { defaults: { model: { primary: "anthropic/claude-opus-4-6", fallbacks: ["openai/gpt-5.2"] } } },
    models: { providers: { groq: { models: [{ id: "llama-3.1-8b-instant" }] } } },
  };

  test("without agents.defaults.models every configured model is offered, in the spec's order", () => {
    const refs = pickerEntries(base, modelChain(base, "main")).map((e) => e.ref);
    expect(refs).toEqual(["anthropic/claude-opus-4-6", "openai/gpt-5.2", "groq/llama-3.1-8b-instant"]);
  });

  test("with a non-empty agents.defaults.models, provider models it does not list are left out; the chain stays", () => {
    const config: JarvisConfig = { ...base, agents: { defaults: { ...base.agents!.defaults, models: { "anthropic/claude-sonnet-4-6": { alias: "sonnet" } } } } };
    const entries = pickerEntries(config, modelChain(config, "main"));
    expect(entries.map((e) => e.ref)).toEqual(["anthropic/claude-opus-4-6", "openai/gpt-5.2", "anthropic/claude-sonnet-4-6"]);
    expect(entries[2]!.alias).toBe("sonnet");
    expect(entries[0]!.isDefault).toBe(true);
  });
});
