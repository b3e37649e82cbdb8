/**
 * The gateway's own log: one line per thing a person running it needs to know (scan needed,
 * logged in as whom, logged out and why, the puppet cannot reach WeChat and why), on stderr.
 *
 * The puppet's `error` events are handled here. Without a listener, EventEmitter throws them as
 * uncaught exceptions whenever no client holds the event stream (PuppetServer only listens while
 * one does), so this listener is what keeps the gateway up. The events still reach connected
 * clients through PuppetServer's own listener, so the client can show the reason too.
 */
import { LOG_LEVELS } from './config.mjs'

// wechat4u retries a dead network about a dozen times every 5 s; one line a minute per distinct
// reason is enough to see it is still failing without drowning everything else.
const REPEAT_WINDOW_MS = 60_000
const NETWORK_ERROR = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket hang up|timeout|network/i

export function createLog (level) {
  const rank = LOG_LEVELS.indexOf(level)
  const line = (min, text) => {
    if (rank >= LOG_LEVELS.indexOf(min)) process.stderr.write(`${new Date().toISOString()} gateway: ${text}\n`)
  }
  return {
    info: text => line('info', text),
    warn: text => line('warn', text),
    error: text => line('error', text),
  }
}

/** The sentence inside a puppet error payload: `{gerror: "<GError JSON>"}`, an Error, or anything. */
export function errorReason (payload) {
  let text = payload?.gerror ?? payload?.message ?? payload
  if (typeof text === 'string') {
    try {
      const parsed = JSON.parse(text)
      text = parsed?.details ?? parsed?.message ?? text
    } catch { /* not JSON: the text is the reason */ }
  }
  if (typeof text !== 'string') text = JSON.stringify(text)
  const first = text.split('\n').map(s => s.trim()).find(Boolean) ?? ''
  return first.replace(/^(Error|GError|AxiosError):\s*/, '') || 'no reason given by the puppet'
}

// wechat4u's own messages are Chinese; the ones that mean "WeChat is unreachable", in English.
const WECHAT4U_MESSAGES = [
  [/^重启时网络错误/, () => 'network error while resuming the saved session, one more try in 60 s'],
  [/^连续(\d+)次同步失败/, (m) => `syncing failed ${m[1]} times in a row, restarting in 5 s`],
]

export function describeError (reason) {
  for (const [pattern, english] of WECHAT4U_MESSAGES) {
    const m = reason.match(pattern)
    if (m) return `the puppet cannot reach WeChat: ${english(m)} (${reason})`
  }
  return NETWORK_ERROR.test(reason)
    ? `the puppet cannot reach WeChat: ${reason}`
    : `the puppet reported an error: ${reason}`
}

function scanStatusName (PUPPET, status) {
  return PUPPET.types.ScanStatus[status] ?? `status ${status}`
}

async function contactOf (puppet, contactId) {
  try {
    const payload = await puppet.contactPayload(contactId)
    return { id: contactId, name: payload?.name || contactId }
  } catch {
    return { id: contactId, name: contactId }
  }
}

/** What wechat4u says when WeChat refuses its web login (batchGetContact's assertion), and what
 * everyone has met since 2025-01-09 (wechaty/wechaty#2774, wechaty/puppet-wechat4u#91). */
export const FORCED_SIGN = /'?110[12]'?\s*==\s*0/
/** A logout this soon after the login is WeChat refusing the session, not a person logging out. */
export const FORCED_LOGOUT_MS = 60_000
export const FORCED_LOGOUT = "WeChat refused the puppet's web login, as it has for web/UOS logins since " +
  'January 2025: use the official bot (rooms with `ilink:`) or another gateway; see README.md, "Getting WeChat online"'

/** Log the puppet's life: scan, login, logout, ready and error events. */
export function reportPuppetEvents (puppet, { PUPPET, log, onLogin }) {
  let loggedInAt = null
  let forced = false
  let saidForced = false  // the sentence once per gateway process: a puppet retrying would repeat it
  puppet.on('scan', ({ qrcode, status }) => {
    const name = scanStatusName(PUPPET, status)
    if (status === PUPPET.types.ScanStatus.Waiting) {
      log.info(`scan needed: scan this QR code with the WeChat app of the account to log in: ${qrcode}`)
    } else if (status === PUPPET.types.ScanStatus.Scanned) {
      log.info('QR code scanned: confirm the login on the phone')
    } else {
      log.info(`scan status: ${name}${qrcode ? ` (QR code ${qrcode})` : ''}`)
    }
  })
  puppet.on('login', async ({ contactId }) => {
    const contact = await contactOf(puppet, contactId)
    loggedInAt = Date.now()
    forced = false
    log.info(`logged in as ${contact.name} (${contact.id})`)
    try {
      await onLogin?.(contact)
    } catch (e) {
      log.warn(`cannot write the session file: ${e?.message ?? e}`)
    }
  })
  puppet.on('logout', ({ contactId, data }) => {
    log.warn(`logged out ${contactId ?? ''}: ${data || 'no reason given by the puppet'}`.replace(' :', ':'))
    const soon = loggedInAt !== null && Date.now() - loggedInAt < FORCED_LOGOUT_MS
    if ((soon || forced || FORCED_SIGN.test(String(data ?? ''))) && !saidForced) {
      saidForced = true
      log.warn(FORCED_LOGOUT)
    }
    loggedInAt = null
  })
  puppet.on('ready', () => log.info('the account data is synced (ready)'))

  const seen = new Map()
  puppet.on('error', payload => {
    const reason = errorReason(payload)
    if (FORCED_SIGN.test(reason)) forced = true
    const now = Date.now()
    const entry = seen.get(reason)
    if (entry && now - entry.loggedAt < REPEAT_WINDOW_MS) {
      entry.repeats += 1
      return
    }
    const repeats = entry?.repeats ? ` (${entry.repeats} more times since the last line)` : ''
    seen.set(reason, { loggedAt: now, repeats: 0 })
    log.warn(describeError(reason) + repeats)
  })
}
