// OAuth provider settings (spec 08 §1): which endpoint URLs are accepted.
import { describe, expect, test } from "bun:test";
import type { JarvisConfig } from "../lib/config.ts";
import { oauthSettings } from "../lib/oauth.ts";

const resolveCtx = { env: {}, home: "/nonexistent", secretDefaults: {} };
const config = (authorizeUrl: string, tokenUrl: string): JarvisConfig => ({ auth: { oauth: { "openai-codex": { clientId: "c", authorizeUrl, tokenUrl } } } });
const HTTPS_ONLY = "auth.oauth.openai-codex.authorizeUrl must use https:// (http:// only for loopback hosts).";

describe("oauthSettings: http:// only for loopback hosts (08 §1)", () => {
  test.each([["127.0.0.1"], ["127.1.2.3"], ["[::1]"], ["localhost"]])("http://%s is a local fake → accepted", async (host) => {
    const s = await oauthSettings("openai-codex", config(`http://${host}/authorize`, `http://${host}/token`), resolveCtx);
    expect(s.tokenUrl).toBe(`http://${host}/token`);
  });

  test.each([["127.evil.example"], ["127.0.0.1.nip.io"], ["example.com"]])("http://%s is not loopback → refused", async (host) => {
    await expect(oauthSettings("openai-codex", config(`http://${host}/authorize`, "https://auth.example/token"), resolveCtx)).rejects.toThrow(HTTPS_ONLY);
  });

  test("https:// is accepted for any host", async () => {
    const s = await oauthSettings("openai-codex", config("https://auth.example/authorize", "https://auth.example/token"), resolveCtx);
    expect([s.authorizeUrl, s.tokenUrl]).toEqual(["https://auth.example/authorize", "https://auth.example/token"]);
  });
});
