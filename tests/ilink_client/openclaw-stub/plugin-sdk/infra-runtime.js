// Stub of openclaw/plugin-sdk/infra-runtime: where the plugin's logger writes, and a file lock.
import os from "node:os";
import path from "node:path";

export function resolvePreferredOpenClawTmpDir() {
  return process.env.OPENCLAW_TMP_DIR || path.join(os.tmpdir(), "openclaw-stub");
}

// One process, one test: running the function is locking enough.
export async function withFileLock(_file, _options, fn) {
  return await fn();
}
