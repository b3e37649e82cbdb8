"""The official WeChat bot (ClawBot) over Tencent's iLink HTTP API: the only code that speaks iLink.

Owns: the HTTP calls and their errors (`api`, `errors`), the values read from answers (`models`),
the QR login (`login`), CDN uploads (`cdn`), each person's long poll (`poller`), stored credentials
and cursors (`credentials`), the reply window and budget (`window`, pure), text splitting (`text`,
pure), and its own HTTP/1.1 client (`web`: aiohttp's client cost a small machine ~10 MB). May
import: orjson, `cryptography` (AES, loaded at the first file), the standard library,
`bridge.errors`. Nothing else of the bridge: the delivery side wires it.

The protocol, read from @tencent-weixin/openclaw-weixin 2.4.9 (src/api/api.ts, api/types.ts,
auth/login-qr.ts, messaging/send.ts, cdn/*, api/session-guard.ts, monitor/monitor.ts); JSON
over HTTPS, base https://ilinkai.weixin.qq.com, CDN https://novac2c.cdn.weixin.qq.com/c2c.

Headers. Every POST: `Content-Type: application/json`, `AuthorizationType: ilink_bot_token`,
`X-WECHAT-UIN: base64(decimal string of a random uint32)` (new per request),
`iLink-App-Id: bot` (package.json `ilink_appid`), `iLink-App-ClientVersion: <uint32 0x00MMNNPP>`
(2.4.9 -> 132105), `Authorization: Bearer <bot_token>` when there is a token; `SKRouteTag` when
configured. GETs (QR status) carry iLink-App-Id and iLink-App-ClientVersion only. Every POST body
but get_bot_qrcode's has `base_info: {channel_version, bot_agent}`; bot_agent is UA-like
("Name/Version (comment)", ASCII, <= 256 bytes), for the server's statistics only.

Endpoints (all under <base>/ilink/bot/):
  POST get_bot_qrcode?bot_type=3  {local_token_list: [tokens bound here, newest first, <= 10]}
       -> {qrcode, qrcode_img_content}  (the URL the QR encodes). 2.4.9 POSTs; older ones GET.
  GET  get_qrcode_status?qrcode=..[&verify_code=..]  long poll (client gives up after 35 s = wait)
       -> {status, bot_token, ilink_bot_id, baseurl, ilink_user_id, redirect_host}
       status: wait | scaned | confirmed | expired | scaned_but_redirect | need_verifycode |
       verify_code_blocked | binded_redirect (see login.py for each).
  POST getupdates  {get_updates_buf: cursor or ""}  long poll, client timeout = the last answer's
       longpolling_timeout_ms (35 s before the first); timeout = empty batch, same cursor.
       -> {ret, errcode, errmsg, msgs: [WeixinMessage], get_updates_buf, longpolling_timeout_ms}
       Store the buf durably and send it next time (a non-empty one only). Each message has
       from_user_id, to_user_id, message_type (1 user, 2 bot), item_list, context_token, message_id
       (uint64: read losslessly), create_time_ms.
  POST sendmessage {msg: {from_user_id: "", to_user_id, client_id, message_type: 2,
       message_state: 2, item_list: [one item], context_token}} -> {ret, errmsg, message_id?}.
       `ret` absent or 0 is accepted, with or without message_id. One item per request: a caption
       and an image are two requests. Items: {type: 1, text_item: {text}}; image (2), file (4),
       video (5) name a CDN upload (cdn.py).
  POST getuploadurl {filekey, media_type (1 image, 2 video, 3 file, 4 voice), to_user_id, rawsize,
       rawfilemd5, filesize (ciphertext), no_need_thumb: true, aeskey (hex)}
       -> {upload_param, thumb_upload_param, upload_full_url}
  POST getconfig {ilink_user_id, context_token} -> {ret, errmsg, typing_ticket}: a cheap token check.
  Also, unused here: sendtyping, msg/notifystart, msg/notifystop.

Errors. `errcode` (or `ret`) -14: session timed out; Tencent's client pauses every call of that
bot for one hour, then tries again. sendmessage `ret: -2`: refused; errmsg "rate limited" is a rate
limit, otherwise the window (24 h after the person's last message) or the budget (~10 sends per
inbound context_token) is gone (upstream issues, not the client). HTTP errors: the client throws.

Text: the channel declares `textChunkLimit: 4000` (src/channel.ts), in JavaScript string units.

CDN (cdn.py): AES-128-ECB, PKCS7, a random 16-byte key per file; upload POST of the ciphertext,
answer header `x-encrypted-param`; the item's `aes_key` is base64 of the key's hex string.
"""
