// Stub of openclaw/plugin-sdk/account-id: OpenClaw's normalisation of an account id to a file-safe one.
export function normalizeAccountId(raw) {
  return String(raw ?? "").trim().toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
}
