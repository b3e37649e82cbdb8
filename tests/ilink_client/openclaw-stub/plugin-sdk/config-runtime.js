// Stub of openclaw/plugin-sdk/config-runtime: no OpenClaw config in a test.
export function loadConfig() {
  return {};
}
export async function writeConfigFile() {}
