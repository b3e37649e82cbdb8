// Tencent's own client (@tencent-weixin/openclaw-weixin, pinned in package.json) against the fake
// iLink server: its QR login, getUpdates, sendMessageWeixin, the CDN image path and getConfig, each
// called as the plugin calls them. Prints one `RESULT {json}` line with what the client returned.
// Driven by tests/unit/wechat/ilink/test_tencent_client.py, which plays the person on the fake's side.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const pkg = "@tencent-weixin/openclaw-weixin/dist/src";
const { startWeixinLoginWithQr, waitForWeixinLogin } = await import(`${pkg}/auth/login-qr.js`);
const { getUpdates, getConfig } = await import(`${pkg}/api/api.js`);
const { sendMessageWeixin, sendImageMessageWeixin } = await import(`${pkg}/messaging/send.js`);
const { uploadFileToWeixin } = await import(`${pkg}/cdn/upload.js`);

const result = {};
const errorText = async (fn) => {
  try {
    await fn();
    return null;
  } catch (err) {
    return String(err?.message ?? err);
  }
};

const started = await startWeixinLoginWithQr({ apiBaseUrl: "https://ilinkai.weixin.qq.com", accountId: "check" });
result.qrcodeUrl = started.qrcodeUrl;
const login = await waitForWeixinLogin({ sessionKey: "check", apiBaseUrl: "https://ilinkai.weixin.qq.com", timeoutMs: 60_000 });
result.login = login;
if (!login.connected) {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}
const api = { baseUrl: login.baseUrl, token: login.botToken };

const updates = await getUpdates({ ...api, get_updates_buf: "", timeoutMs: 30_000 });
result.updates = updates;
const inbound = updates.msgs[0];
const opts = { ...api, contextToken: inbound.context_token };

result.text = await sendMessageWeixin({ to: inbound.from_user_id, text: "Tencent's client says hello", opts });

const image = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ilink-img-")), "door.png");
fs.writeFileSync(image, Buffer.from(process.env.ILINK_IMAGE_HEX, "hex"));
const uploaded = await uploadFileToWeixin({ filePath: image, toUserId: inbound.from_user_id, opts: api,
                                            cdnBaseUrl: process.env.ILINK_CDN_URL });
result.image = await sendImageMessageWeixin({ to: inbound.from_user_id, text: "Front door", uploaded, opts });

result.typingTicket = (await getConfig({ ...api, ilinkUserId: inbound.from_user_id })).typing_ticket;
// The fake's budget is 3 sends per inbound message: this fourth one is refused (ret -2).
result.refused = await errorText(() => sendMessageWeixin({ to: inbound.from_user_id, text: "one too many", opts }));
// With the next poll's cursor, only the newer message comes; then the session expires mid-poll.
result.again = await getUpdates({ ...api, get_updates_buf: updates.get_updates_buf, timeoutMs: 30_000 });
result.expired = await getUpdates({ ...api, get_updates_buf: result.again.get_updates_buf, timeoutMs: 30_000 });

process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
