/**
 * The gateway's whole configuration, read once from the environment.
 *
 * Every problem becomes a ConfigError whose message is one sentence saying what is wrong and how
 * to fix it; gateway.mjs prints it and exits non-zero. Nothing here imports wechaty, so a bad
 * configuration is reported before the heavy packages load.
 */
import fs from 'node:fs'
import path from 'node:path'

export class ConfigError extends Error {}

/** The puppets this gateway ships (gateway/package.json), by the names wechaty users know. */
export const PUPPETS = {
  'wechaty-puppet-wechat4u': { needsToken: false },
  'wechaty-puppet-padlocal': { needsToken: true },
  'wechaty-puppet-xp': { needsToken: false },
  'wechaty-puppet-mock': { needsToken: false },
}

export const DEFAULT_PUPPET = 'wechaty-puppet-wechat4u'
export const DEFAULT_PORT = 8788
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_DATA = 'data'
// brolog's levels, which WECHATY_LOG has always taken.
export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'verbose', 'silly']
// Shorter tokens can be guessed; `insecure_` is wechaty's own prefix for tokens that say so.
const MIN_TOKEN_LENGTH = 16

/** `wechaty-puppet-padlocal` -> `WECHATY_PUPPET_PADLOCAL_TOKEN`, the variable the puppet itself reads. */
export function puppetTokenVariable (puppet) {
  const name = puppet.replace(/^wechaty-puppet-/, '').toUpperCase().replace(/[^A-Z0-9]+/g, '_')
  return `WECHATY_PUPPET_${name}_TOKEN`
}

function readPuppet (env) {
  const puppet = env.WECHATY_PUPPET || DEFAULT_PUPPET
  if (!Object.hasOwn(PUPPETS, puppet)) {
    throw new ConfigError(`WECHATY_PUPPET=${puppet} is not a puppet this gateway ships; use one of ${Object.keys(PUPPETS).join(', ')}.`)
  }
  return puppet
}

function readToken (env) {
  const token = env.WECHATY_TOKEN
  if (!token) {
    throw new ConfigError('WECHATY_TOKEN is not set: set it to a random string of 16 or more characters, the same one the bridge uses as WECHATY_PUPPET_SERVICE_TOKEN.')
  }
  if (token.length < MIN_TOKEN_LENGTH && !token.startsWith('insecure_')) {
    throw new ConfigError(`WECHATY_TOKEN is ${token.length} characters long: use a random string of ${MIN_TOKEN_LENGTH} or more characters (or one starting with insecure_ if you mean it).`)
  }
  return token
}

function readPort (env) {
  const raw = env.WECHATY_PUPPET_SERVER_PORT
  if (raw === undefined || raw === '') return DEFAULT_PORT
  const port = Number(raw)
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535) {
    throw new ConfigError(`WECHATY_PUPPET_SERVER_PORT=${raw} is not a TCP port: use a number from 1 to 65535 (default ${DEFAULT_PORT}).`)
  }
  return port
}

function readHost (env) {
  const host = env.WECHATY_PUPPET_SERVER_HOST || DEFAULT_HOST
  // host:port or a URL is the usual mistake; IPv6 addresses (several colons) pass.
  if (/[\s/]/.test(host) || /^[^:]*:\d*$/.test(host)) {
    throw new ConfigError(`WECHATY_PUPPET_SERVER_HOST=${host} is not a host name or address: give one without a port, such as 127.0.0.1 or 0.0.0.0.`)
  }
  return host
}

/** A PEM value given as text (`NAME`) or as a file (`NAME_FILE`, what Docker secrets give). */
function readPem (env, name) {
  const text = env[name]
  const file = env[`${name}_FILE`]
  if (text && file) {
    throw new ConfigError(`${name} and ${name}_FILE are both set: set only one of them.`)
  }
  let pem = text ? text.replace(/\\n/g, '\n') : undefined
  let source = name
  if (file) {
    source = `${name}_FILE=${file}`
    try {
      pem = fs.readFileSync(file, 'utf8')
    } catch (e) {
      throw new ConfigError(`${name}_FILE=${file} cannot be read (${e.code ?? e.message}): give the path of a PEM file the gateway may read.`)
    }
  }
  if (pem === undefined) return undefined
  if (!pem.includes('-----BEGIN ')) {
    throw new ConfigError(`${source} does not hold PEM text: it must contain a -----BEGIN ...----- block.`)
  }
  return { pem, source }
}

function readTls (env) {
  const flag = env.WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER
  if (flag !== undefined && flag !== '' && flag !== 'true' && flag !== 'false') {
    throw new ConfigError(`WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=${flag} must be true (TLS off) or false (TLS on).`)
  }
  const cert = readPem(env, 'WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT')
  const key = readPem(env, 'WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY')
  if (flag === 'true') {
    if (cert || key) {
      throw new ConfigError('a TLS certificate or key is set but WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true turns TLS off: remove one or the other.')
    }
    return { enabled: false }
  }
  if (Boolean(cert) !== Boolean(key)) {
    throw new ConfigError(`${cert ? cert.source : key.source} is set without its ${cert ? 'key' : 'certificate'}: give both WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT and WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY (or their _FILE forms).`)
  }
  return { enabled: true, cert: cert?.pem, key: key?.pem, source: cert ? `${cert.source} and ${key.source}` : null }
}

function readLogLevel (env) {
  const level = env.WECHATY_LOG || 'info'
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError(`WECHATY_LOG=${level} is not a log level: use one of ${LOG_LEVELS.join(', ')}.`)
  }
  return level
}

function readData (env) {
  const dir = path.resolve(env.WECHATY_DATA || DEFAULT_DATA)
  try {
    fs.mkdirSync(dir, { recursive: true })
    fs.accessSync(dir, fs.constants.W_OK)
  } catch (e) {
    throw new ConfigError(`WECHATY_DATA=${dir} is not a directory the gateway can write (${e.code ?? e.message}): the session is kept there.`)
  }
  return dir
}

function readMockWorld (env, puppet) {
  const file = env.WECHATY_PUPPET_MOCK_WORLD
  if (!file) return null
  if (puppet !== 'wechaty-puppet-mock') {
    throw new ConfigError(`WECHATY_PUPPET_MOCK_WORLD is set but WECHATY_PUPPET=${puppet}: the world file is only for wechaty-puppet-mock.`)
  }
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`WECHATY_PUPPET_MOCK_WORLD=${file} cannot be read (${e.code ?? e.message}).`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new ConfigError(`WECHATY_PUPPET_MOCK_WORLD=${file} is not valid JSON (${e.message}).`)
  }
}

/** The configuration from `env`, or a ConfigError with the first problem found. */
export function readConfig (env) {
  const puppet = readPuppet(env)
  const tokenVariable = puppetTokenVariable(puppet)
  const puppetToken = env[tokenVariable] || undefined
  if (PUPPETS[puppet].needsToken && !puppetToken) {
    throw new ConfigError(`${puppet} needs its own token: set ${tokenVariable}.`)
  }
  return {
    puppet,
    puppetToken,
    tokenVariable,
    token: readToken(env),
    port: readPort(env),
    host: readHost(env),
    tls: readTls(env),
    logLevel: readLogLevel(env),
    dataDir: readData(env),
    mockWorld: readMockWorld(env, puppet),
  }
}
