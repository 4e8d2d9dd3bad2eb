// Preloaded by bunfig.toml for every test file: strip ambient credentials and jarvis settings so that a
// developer's own keys can never leak into (or change the outcome of) a test.
const STRIP = /(_API_KEYS?(_.*)?|_TOKEN|_OAUTH_TOKEN|_KEY)$|^JARVIS_|^CLAUDE_CONFIG_DIR$|^CODEX_HOME$/;
for (const name of Object.keys(process.env)) {
  if (STRIP.test(name)) delete process.env[name];
}
