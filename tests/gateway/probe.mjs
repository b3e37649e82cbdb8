/**
 * A client of the gateway for tests that must not use the test controls: wechaty's own
 * puppet-service client (PuppetService, from gateway/node_modules) connects the way any wechaty
 * bot would and prints JSON lines on stdout:
 *
 *   {"started": true}                                  once connected (the event stream is open)
 *   then, by PROBE_WAIT:
 *   login (default): {"user": {"id", "name"}, "rooms": [{"id", "topic", "member_ids"}], "contacts": [...]}
 *   error:           {"error_event": "<the gerror text of the first error event>"}
 *   stop:            {"stopped": true} after calling stop(), which sends the Stop call
 *   {"error": "..."}                                   (exit 1) when it cannot
 *
 * Configured as PuppetService reads it: WECHATY_PUPPET_SERVICE_ENDPOINT, _TOKEN, and
 * WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT=true or _TLS_CA_CERT / _TLS_SERVER_NAME.
 * PROBE_TIMEOUT_MS bounds the whole run (default 20000). It exits without calling stop() (but
 * with PROBE_WAIT=stop), which asks the gateway to stop its puppet.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const writeStdout = process.stdout.write.bind(process.stdout)
for (const name of ['log', 'info', 'debug', 'trace']) console[name] = (...args) => console.error(...args)
process.stdout.write = (...args) => process.stderr.write(...args)

function finish (obj, code) {
  writeStdout(JSON.stringify(obj) + '\n', () => process.exit(code))
}

// Without TLS the client still wants a server name; the token's `sni_` prefix gives one, else this.
process.env.WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME ??= 'insecure'

const GATEWAY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gateway')
const dir = path.join(GATEWAY_DIR, 'node_modules', 'wechaty-puppet-service')
const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
const { PuppetService } = await import(pathToFileURL(path.join(dir, pkg.exports['.'].import)).href)

setTimeout(() => finish({ error: 'no login within the probe timeout' }, 1), Number(process.env.PROBE_TIMEOUT_MS || 20000))
process.on('unhandledRejection', e => finish({ error: String(e?.message ?? e) }, 1))

try {
  const puppet = new PuppetService()
  const loggedIn = new Promise(resolve => puppet.once('login', resolve))
  const errored = new Promise(resolve => puppet.once('error', resolve))
  puppet.on('error', () => {})
  await puppet.start()
  writeStdout(JSON.stringify({ started: true }) + '\n')
  if (process.env.PROBE_WAIT === 'stop') {
    await puppet.stop() // the Stop call some clients send on every connect
    finish({ stopped: true }, 0)
    await new Promise(() => {})
  }
  if (process.env.PROBE_WAIT === 'error') {
    const payload = await errored
    finish({ error_event: payload?.gerror ?? JSON.stringify(payload) }, 0)
    await new Promise(() => {})
  }
  const { contactId } = await loggedIn
  const user = await puppet.contactPayload(contactId)
  const rooms = []
  for (const id of await puppet.roomList()) {
    const room = await puppet.roomPayload(id)
    rooms.push({ id: room.id, topic: room.topic, member_ids: room.memberIdList })
  }
  const contacts = []
  for (const id of await puppet.contactList()) {
    contacts.push({ id, name: (await puppet.contactPayload(id)).name })
  }
  finish({ user: { id: user.id, name: user.name }, rooms, contacts }, 0)
} catch (e) {
  finish({ error: String(e?.message ?? e) }, 1)
}
