// Loaded with `node --import ./host-map.mjs`: sends the client's requests to the fake iLink server.
// Tencent's client asks https://ilinkai.weixin.qq.com for QR codes whatever it is told (FIXED_BASE_URL
// in src/auth/login-qr.ts) and polls https://<redirect_host> after a redirect; the fake speaks plain
// HTTP on 127.0.0.1. Nothing else of the client is changed.
const fake = process.env.ILINK_FAKE_URL;
const realFetch = globalThis.fetch;

globalThis.fetch = (input, init) => {
  let url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  url = url.replace(/^https:\/\/ilinkai\.weixin\.qq\.com/, fake).replace(/^https:\/\/127\.0\.0\.1:/, "http://127.0.0.1:");
  return realFetch(url, init);
};
