#!/usr/bin/env node
/**
 * The WeChat gateway of wechat-mqtt-bridge: the official wechaty puppet-service gRPC server
 * (PuppetServer from wechaty-puppet-service) in front of one official puppet, configured by the
 * environment variables wechaty users know (README.md, "The WeChat gateway").
 *
 * It talks to nothing but its clients and the puppet's own servers: PuppetServer has no
 * discovery or cloud code (the `api.chatie.io` authority in wechaty-puppet-service is used only by
 * its client side, which this program never constructs).
 *
 *   WECHATY_TOKEN=... node gateway.mjs        (or `npm start` in this directory)
 *
 * Exit codes: 0 on SIGTERM/SIGINT, 2 on a bad configuration (one sentence on stderr), 1 when
 * it cannot listen.
 */
import { ConfigError, readConfig } from './config.mjs'
import { createPuppet, describeMemory, loadMemory, memoryCardFile, rememberLogin } from './puppets.mjs'
import { createLog, errorReason, reportPuppetEvents } from './reports.mjs'

// A puppet that fails to start is retried with these delays (then every last one): it is mostly
// a network that is not up yet, and a gateway that stays up lets its clients show the reason.
const START_RETRY_SECONDS = [5, 10, 20, 40, 80, 160, 300]
// The gRPC server and the memory card are closed within this; then the process exits anyway.
const SHUTDOWN_GRACE_MS = 3000

function fatal (sentence, code) {
  process.stderr.write(`gateway: ${sentence}\n`)
  process.exit(code)
}

let config
try {
  config = readConfig(process.env)
} catch (e) {
  if (e instanceof ConfigError) fatal(e.message, 2)
  throw e
}
// wechaty-puppet reads the level when it is first imported, hence the dynamic imports below.
process.env.WECHATY_LOG = config.logLevel
const log = createLog(config.logLevel)

const PUPPET = await import('wechaty-puppet')
const { PuppetServer, VERSION: SERVICE_VERSION } = await import('wechaty-puppet-service')
quietUpstreamNoise(PUPPET.log, (await import('@grpc/grpc-js')).Server)

/**
 * Two upstream habits that print alarming lines about normal operation (issue 29):
 * - PuppetServer 1.19.9 calls `grpcServer.start()` after `bindAsync`. grpc-js (1.14.7 here) serves
 *   as soon as it is bound; its `start()` only sets a flag nothing else reads and prints
 *   "DeprecationWarning: Calling start() is no longer necessary". The call is made a no-op.
 * - EventStreamManager listens for five ways the event stream can end (cancelled, error, finish,
 *   end, close); a client that disconnects fires several, and every one after the first warns
 *   "eventStream is undefined". It warns the same way for each puppet event while no client is
 *   connected, which is what a gateway waiting for its bridge is; the bridge gets the login state
 *   replayed when it connects, and this gateway logs the puppet's events itself (reports.mjs).
 * - With TLS off, PuppetServer warns "start() TLS disabled: INSECURE!"; this gateway says it in a
 *   sentence of its own, with what to do (below, after "listening on").
 *   Only those lines are dropped; every other upstream warning still prints.
 */
function quietUpstreamNoise (puppetLog, GrpcServer) {
  GrpcServer.prototype.start = function start () {}
  const warn = puppetLog.warn.bind(puppetLog)
  puppetLog.warn = (prefix, format, ...args) => {
    if (prefix === 'EventStreamManager' && String(format).includes('eventStream is undefined')) return
    if (prefix === 'PuppetServer' && String(format).includes('TLS disabled: INSECURE!')) return
    warn(prefix, format, ...args)
  }
}

let memory
let puppet
try {
  memory = await loadMemory(config.dataDir)
  puppet = await createPuppet(config, { PUPPET, log, memory })
} catch (e) {
  if (e instanceof ConfigError) fatal(e.message, 2)
  throw e
}
reportPuppetEvents(puppet, { PUPPET, log, onLogin: contact => rememberLogin(memory, contact) })
if (config.puppet !== 'wechaty-puppet-mock') {
  // PuppetServer passes a client's Stop call on to the puppet, and some clients (the Python
  // wechaty SDK) send Stop then Start on every connect. wechat4u's stop() logs the account out
  // of WeChat and forgets the saved session, so a reconnecting client would force a new scan.
  // The gateway owns the puppet's life; a client (re)connecting gets the login state from the
  // event stream anyway. The mock keeps the upstream behaviour: Stop restarts its world.
  puppet.stop = async () => { log.info('a client asked to stop the puppet: ignored, the gateway keeps the account online') }
}

const endpoint = `${config.host}:${config.port}`
const server = new PuppetServer({
  endpoint,
  puppet,
  token: config.token,
  tls: { disable: !config.tls.enabled, serverCert: config.tls.cert, serverKey: config.tls.key },
})

process.on('uncaughtException', e => log.error(`unexpected error, the gateway keeps running: ${e?.stack ?? e}`))
process.on('unhandledRejection', e => log.error(`unexpected error, the gateway keeps running: ${e?.stack ?? e}`))

let shuttingDown = false
async function shutdown (signal) {
  if (shuttingDown) return
  shuttingDown = true
  log.info(`${signal}: stopping`)
  setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref()
  try { await server.stop() } catch (e) { log.warn(`stopping the gRPC server: ${e?.message ?? e}`) }
  // No puppet.stop(): wechat4u's stop() logs the account out of WeChat and forgets the saved
  // session, so the next start would need a new scan. Exiting leaves the session resumable.
  try { await memory.save() } catch (e) { log.warn(`saving ${memoryCardFile(config.dataDir)}: ${e?.message ?? e}`) }
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))

log.info(`puppet: ${config.puppet} ${puppet.version?.() ?? ''}`.trimEnd())
log.info(await describeMemory(memory, config.dataDir))
try {
  await server.start()
} catch (e) {
  fatal(`cannot listen on ${endpoint}: ${errorReason(e)}.`, 1)
}
log.info(`listening on ${endpoint} (wechaty puppet-service ${SERVICE_VERSION})`)
if (!config.tls.enabled) {
  log.warn('TLS off (WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true): the token and messages cross the network in clear text, so keep this port on a private network')
} else if (config.tls.source) {
  log.info(`TLS on, with the certificate from ${config.tls.source}`)
} else {
  log.warn('TLS on, with wechaty\'s built-in certificate (server name "insecure", key published with wechaty): the bridge accepts it with wechaty.tls.wechaty_ca (wechaty\'s own clients need a token starting with insecure_); give your own certificate with WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT and _KEY')
}

for (let attempt = 1; !shuttingDown; attempt += 1) {
  try {
    await puppet.start()
    break
  } catch (e) {
    const delay = START_RETRY_SECONDS[Math.min(attempt - 1, START_RETRY_SECONDS.length - 1)]
    const reason = errorReason(e)
    log.error(`the puppet did not start: ${reason}; retrying in ${delay} s (attempt ${attempt + 1})`)
    // A client's Start call meanwhile tries again at once and gets the reason as its gRPC error.
    await new Promise(resolve => setTimeout(resolve, delay * 1000))
  }
}
