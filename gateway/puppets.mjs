/**
 * Makes the one puppet the gateway serves, with its session kept in a memory card.
 *
 * The memory card is wechaty's own mechanism for a session that survives a restart: wechaty
 * creates `new MemoryCard({name, storageOptions: {type: 'file'}})`, loads it and gives the puppet
 * `memory.multiplex('puppet')`; puppets that can resume (wechat4u) save their login data there
 * and read it back on start. We do the same, with the file in WECHATY_DATA.
 */
import path from 'node:path'

import { ConfigError } from './config.mjs'
import { createMockPuppet } from './mock-world.mjs'

const MEMORY_NAME = 'gateway'

/** The memory card file in `dataDir` (memory-card appends `.memory-card.json` to the name). */
export function memoryCardFile (dataDir) {
  return path.join(dataDir, `${MEMORY_NAME}.memory-card.json`)
}

/** The loaded root memory card; the puppet gets its `puppet` part. */
export async function loadMemory (dataDir) {
  const { MemoryCard } = await import('memory-card')
  const memory = new MemoryCard({ name: path.join(dataDir, MEMORY_NAME), storageOptions: { type: 'file' } })
  await memory.load()
  return memory
}

// The gateway's own record in the card, beside the puppet's part: who was logged in last.
const LAST_LOGIN_KEY = 'gateway-last-login'
// memory-card stores a multiplexed card's keys as "\r<name>\n<key>" in the root card.
const PUPPET_KEY_PREFIX = '\rpuppet\n'

/** One sentence on what the card holds at start-up: whether the puppet may resume a session. */
export async function describeMemory (memory, dataDir) {
  const file = memoryCardFile(dataDir)
  let puppetKeys = 0
  for await (const key of memory.keys()) if (key.startsWith(PUPPET_KEY_PREFIX)) puppetKeys += 1
  const last = await memory.get(LAST_LOGIN_KEY)
  const who = last ? `; last logged in as ${last.name} (${last.id}) at ${last.at}` : ''
  return puppetKeys > 0
    ? `session: ${file} holds a saved puppet session, which the puppet will try to resume without a scan${who}`
    : `session: ${file} holds no saved puppet session${who}`
}

/** Write down who logged in, so that the next start can say whose session it holds. */
export async function rememberLogin (memory, contact) {
  await memory.set(LAST_LOGIN_KEY, { id: contact.id, name: contact.name, at: new Date().toISOString() })
  await memory.save()
}

async function importPuppet (name) {
  try {
    return await import(name)
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(`'${name}'`)) {
      if (name === 'wechaty-puppet-xp') {
        throw new ConfigError('wechaty-puppet-xp is not installed here: it runs only on Windows with WeChat 3.9 installed, where `npm ci` in gateway/ installs it.')
      }
      throw new ConfigError(`${name} is not installed: run \`npm ci\` in the gateway directory.`)
    }
    throw e
  }
}

/** The puppet for `config`, its memory set; a ConfigError when it cannot even be made. */
export async function createPuppet (config, { PUPPET, log, memory }) {
  let puppet
  if (config.puppet === 'wechaty-puppet-mock') {
    const mockModule = await importPuppet('wechaty-puppet-mock')
    puppet = createMockPuppet({ PUPPET, mockModule, world: config.mockWorld, log })
  } else {
    const mod = await importPuppet(config.puppet)
    const PuppetClass = mod.default
    if (typeof PuppetClass !== 'function') throw new ConfigError(`${config.puppet} has no default export to construct a puppet from.`)
    try {
      puppet = new PuppetClass(config.puppetToken ? { token: config.puppetToken } : {})
    } catch (e) {
      // padlocal, for one, checks its token in the constructor.
      throw new ConfigError(`${config.puppet} refused to start: ${firstLine(e?.message ?? String(e))}`)
    }
  }
  puppet.setMemory(memory.multiplex('puppet'))
  return puppet
}

function firstLine (text) {
  return String(text).trim().split('\n').map(s => s.trim()).find(Boolean) ?? String(text)
}
