/**
 * Test controls for the production gateway serving the mock puppet. Only tests load this:
 *
 *   WECHATY_PUPPET=wechaty-puppet-mock ... node --import ./tests/gateway/controls.mjs gateway/gateway.mjs
 *
 * gateway/gateway.mjs stays exactly what users run. This module is evaluated first (--import),
 * imports the very same module instances the gateway will import (same resolved files under
 * gateway/node_modules, and ESM caches by URL), and wraps PuppetMock and PuppetServer from the
 * outside: it captures the puppet when it starts, records every bot send, can make sends fail,
 * log the bot out and keep it out, change the world, and emit puppet errors.
 *
 * stdout carries ONLY protocol JSON lines; everything else that would print there goes to
 * stderr. Commands arrive as JSON lines on stdin once the gateway is ready (see README.md here).
 */
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'

// ---------------------------------------------------------------- stdout hygiene
const writeStdout = process.stdout.write.bind(process.stdout)
for (const name of ['log', 'info', 'debug', 'trace']) {
  console[name] = (...args) => console.error(...args)
}
process.stdout.write = (...args) => process.stderr.write(...args)

function emitLine (obj) {
  writeStdout(JSON.stringify(obj) + '\n')
}

function logErr (...args) {
  process.stderr.write('[controls] ' + args.join(' ') + '\n')
}

// ---------------------------------------------------------------- the gateway's own modules
const GATEWAY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gateway')

/** The ESM entry of a package under gateway/node_modules: the file the gateway's bare import loads. */
function gatewayModule (name) {
  const dir = path.join(GATEWAY_DIR, 'node_modules', name)
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  const entry = pkg.exports?.['.']?.import ?? pkg.module ?? pkg.main
  return import(pathToFileURL(fs.realpathSync(path.join(dir, entry))).href)
}

const PUPPET = await gatewayModule('wechaty-puppet')
const { PuppetMock } = await gatewayModule('wechaty-puppet-mock')
const { PuppetServer } = await gatewayModule('wechaty-puppet-service')

// ---------------------------------------------------------------- profiles
// TEST_GATEWAY_PROFILE=wechat-skill: a third-party gateway as leeguooooo/wechat-skill documents
// its own (a puppet-service on port 18401, TLS off, "any wechaty 1.x client"): it sends text only,
// so every way to send a file (MessageSendFile, MessageSendFileStream, Upload) answers gRPC
// UNIMPLEMENTED, as a server without those methods does. Its rooms and token are the test's.
const PROFILE = process.env.TEST_GATEWAY_PROFILE || ''
const TEXT_ONLY_METHODS = ['messageSendFile', 'messageSendFileStream', 'upload']
if (PROFILE === 'wechat-skill') {
  const grpc = await gatewayModule('@grpc/grpc-js')
  const { Server, status } = grpc.Server ? grpc : grpc.default
  const addService = Server.prototype.addService
  Server.prototype.addService = function (service, implementation) {
    if (implementation && 'messageSendFile' in implementation) {
      implementation = { ...implementation }
      for (const name of TEXT_ONLY_METHODS) {
        implementation[name] = (call, callback) => {
          emitLine({ event: 'unimplemented', method: name })
          callback({ code: status.UNIMPLEMENTED, details: `wechat-skill: ${name} is not implemented (text only)` })
        }
      }
    }
    return addService.call(this, service, implementation)
  }
} else if (PROFILE) {
  logErr(`unknown TEST_GATEWAY_PROFILE=${PROFILE}; known: wechat-skill`)
  process.exit(2)
}

// ---------------------------------------------------------------- state
let puppet = null
let mocker = null
let userId = null
let endpointPort = null
let listening = false
let readySent = false
let wantLoggedIn = true
let seq = 0
let records = []
const failing = new Set()

function gwError (message) {
  const e = new Error(message)
  e.stack = `Error: ${message}`
  return e
}

function maybeReady () {
  if (readySent || !listening || !puppet?.isLoggedIn) return
  readySent = true
  emitLine({ event: 'ready', port: endpointPort, user_id: userId })
  startCommands()
}

const serverStart = PuppetServer.prototype.start
PuppetServer.prototype.start = async function (...args) {
  await serverStart.apply(this, args)
  endpointPort = Number(String(this.options.endpoint).split(':').pop())
  listening = true
  maybeReady()
}

const puppetStart = Object.getPrototypeOf(PuppetMock.prototype).start
PuppetMock.prototype.start = async function (...args) {
  if (!puppet) install(this)
  return puppetStart.apply(this, args)
}

// ---------------------------------------------------------------- wrapping the puppet
function install (p) {
  puppet = p
  mocker = p.mocker
  p.on('login', ({ contactId }) => {
    userId ??= contactId
    maybeReady()
  })
  const login = p.login.bind(p)
  // The demo world logs the bot in on every (re)start; after `logout` it must stay out.
  p.login = async (id) => (wantLoggedIn ? login(id) : undefined)
  p.__controlsLogin = login

  wrapSend('messageSendText', async (to, [text, mentionIdList]) => ({
    type: 'text', text, mention_ids: Array.isArray(mentionIdList) ? [...mentionIdList] : [],
  }))
  wrapSend('messageSendFile', async (to, [file]) => ({ type: 'file', file: await describeFile(file) }))
  wrapSend('messageSendContact', async (to, [contactId]) => ({ type: 'contact', contact_id: contactId }))
  wrapSend('messageSendUrl', async (to, [link]) => ({ type: 'url', payload: link, text: link?.url ?? null }))
  wrapSend('messageSendMiniProgram', async (to, [payload]) => ({ type: 'mini_program', payload }))
  wrapSend('messageSendLocation', async (to, [payload]) => ({ type: 'location', payload }))
}

function wrapSend (method, fields) {
  const send = puppet[method]
  puppet[method] = async (conversationId, ...args) => {
    if (failing.has(conversationId)) {
      throw gwError(`mock gateway: sending to ${conversationId} fails (fail_room)`)
    }
    const extra = await fields(conversationId, args)
    const isRoom = hasRoom(conversationId)
    const roomTopic = isRoom ? mocker.roomPayload(conversationId).topic : null
    const id = await send(conversationId, ...args)
    const rec = {
      seq: ++seq,
      room_id: isRoom ? conversationId : null,
      room_topic: roomTopic,
      to_id: isRoom ? null : conversationId,
      text: null,
      mention_ids: [],
      file: null,
      ...extra,
      message_id: id,
      ts: Date.now(),
    }
    records.push(rec)
    emitLine({ event: 'sent', ...rec })
    return id
  }
}

async function describeFile (file) {
  const info = { name: file.name ?? null, mime: file.mediaType ?? null, base64: null, url: null, size: null }
  if (file.type === 2 /* FileBoxType.Url */ || file.type === 3 /* QRCode */) {
    // Never fetch remote content: no network in tests.
    info.url = file.remoteUrl ?? file.qrCode ?? null
  } else {
    info.base64 = await file.toBase64()
    info.size = Buffer.from(info.base64, 'base64').length
  }
  return info
}

// ---------------------------------------------------------------- world helpers
function hasContact (id) { return mocker.cacheContactPayload.has(id) }
function hasRoom (id) { return mocker.cacheRoomPayload.has(id) }

function createContact (spec) {
  if (!spec || typeof spec.id !== 'string' || !spec.id) throw gwError('contact needs a non-empty string "id"')
  if (hasContact(spec.id)) throw gwError(`contact ${spec.id} already exists`)
  return mocker.createContact({
    address: '', alias: spec.alias, avatar: '', city: '', friend: true,
    gender: PUPPET.types.ContactGender.Unknown, id: spec.id, name: spec.name ?? spec.id,
    phone: [], province: '', signature: '', star: false, type: PUPPET.types.Contact.Individual,
  })
}

function dirtyRoom (id) {
  try { puppet.cache?.room?.delete(id) } catch (e) { logErr('cache delete failed', e) }
}

function roomInfo (id) {
  const p = mocker.roomPayload(id)
  return { id: p.id, topic: p.topic, member_ids: [...p.memberIdList] }
}

function renameRoom (id, topic, changerId) {
  if (!hasRoom(id)) throw gwError(`unknown room ${id}`)
  if (typeof topic !== 'string') throw gwError('"topic" must be a string')
  if (!hasContact(changerId)) throw gwError(`unknown contact ${changerId}`)
  const payload = mocker.roomPayload(id)
  const oldTopic = payload.topic
  payload.topic = topic
  dirtyRoom(id)
  puppet.emit('room-topic', { changerId, newTopic: topic, oldTopic, roomId: id, timestamp: Date.now() })
}

function firstOtherMember (roomId) {
  if (!hasRoom(roomId)) throw gwError(`unknown room ${roomId}`)
  return mocker.roomPayload(roomId).memberIdList.find(id => id !== userId) ?? userId
}

function loginBot () {
  if (puppet.isLoggedIn) return
  puppet.__currentUserId = undefined
  puppet.__controlsLogin(userId)
  setTimeout(() => { if (puppet.isLoggedIn) puppet.emit('ready', { data: 'ready' }) }, 50)
}

// ---------------------------------------------------------------- commands
const commands = {
  ping: () => 'pong',

  messages: () => records,

  clear: () => {
    const n = records.length
    records = []
    return { cleared: n }
  },

  logout: async () => {
    wantLoggedIn = false
    if (puppet.isLoggedIn) await puppet.logout('logout by test harness')
    return { logged_in: puppet.isLoggedIn }
  },

  login: () => {
    wantLoggedIn = true
    loginBot()
    return { logged_in: puppet.isLoggedIn }
  },

  status: () => ({ logged_in: puppet.isLoggedIn, user_id: userId, failing: [...failing] }),

  add_contact: (c) => {
    createContact({ id: c.id, name: c.name, alias: c.alias })
    return { id: c.id }
  },

  add_room: (c) => {
    if (typeof c.id !== 'string' || !c.id) throw gwError('room needs a non-empty string "id"')
    if (hasRoom(c.id)) throw gwError(`room ${c.id} already exists`)
    const members = c.members ?? []
    if (!Array.isArray(members)) throw gwError('"members" must be a list of contact ids')
    for (const id of members) {
      if (!hasContact(id)) throw gwError(`unknown contact id ${JSON.stringify(id)} (declare it in "contacts")`)
    }
    const room = mocker.createRoom({
      adminIdList: [], avatar: '', id: c.id,
      memberIdList: [...new Set(members.filter(id => id !== userId))], ownerId: undefined, topic: c.topic ?? '',
    })
    const inviterId = c.inviter_id ?? room.payload.memberIdList[0] ?? userId
    if (!hasContact(inviterId)) throw gwError(`unknown contact ${inviterId}`)
    dirtyRoom(c.id)
    // RoomMock.add() appends the bot to the member list and emits room-join.
    room.add(mocker.ContactMock.load(userId)).by(mocker.ContactMock.load(inviterId))
    return roomInfo(c.id)
  },

  rename_room: (c) => {
    renameRoom(c.id, c.topic, c.changer_id ?? firstOtherMember(c.id))
    return roomInfo(c.id)
  },

  say: (c) => {
    if (!hasContact(c.contact_id)) throw gwError(`unknown contact ${c.contact_id}`)
    const talker = mocker.ContactMock.load(c.contact_id)
    const mentions = (c.mention_ids ?? []).map(id => {
      if (!hasContact(id)) throw gwError(`unknown contact ${id}`)
      return mocker.ContactMock.load(id)
    })
    let conversation
    if (c.room_id) {
      if (!hasRoom(c.room_id)) throw gwError(`unknown room ${c.room_id}`)
      conversation = mocker.RoomMock.load(c.room_id)
    } else {
      conversation = mocker.ContactMock.load(userId) // direct message to the bot
    }
    if (typeof c.text !== 'string') throw gwError('"text" must be a string')
    const before = new Set(mocker.cacheMessagePayload.keys())
    talker.say(c.text, mentions).to(conversation)
    const id = [...mocker.cacheMessagePayload.keys()].find(k => !before.has(k))
    return { message_id: id ?? null }
  },

  fail_room: (c) => {
    if (c.fail === false) failing.delete(c.id)
    else failing.add(c.id)
    return { failing: [...failing] }
  },

  // What a puppet that cannot reach WeChat does: wechat4u emits exactly such events.
  error: (c) => {
    if (typeof c.gerror !== 'string' || !c.gerror) throw gwError('"gerror" must be a non-empty string')
    puppet.emit('error', new Error(c.gerror))
    return { emitted: true }
  },

  // What a puppet does while nobody is logged in: a QR code to scan (the bot must be logged out).
  scan: (c) => {
    if (typeof c.qrcode !== 'string' || !c.qrcode) throw gwError('"qrcode" must be a non-empty string')
    if (puppet.isLoggedIn) throw gwError('the bot is logged in: logout first')
    puppet.emit('scan', { qrcode: c.qrcode, status: PUPPET.types.ScanStatus.Waiting })
    return { emitted: true }
  },

  rooms: () => [...mocker.cacheRoomPayload.keys()].map(roomInfo),

  contacts: () => [...mocker.cacheContactPayload.values()].map(p => ({ id: p.id, name: p.name })),
}

async function handleLine (line) {
  line = line.trim()
  if (!line) return
  let msg
  try {
    msg = JSON.parse(line)
  } catch (e) {
    emitLine({ reply: null, ok: false, error: 'invalid JSON: ' + e.message })
    return
  }
  const req = msg?.req ?? null
  try {
    const fn = Object.hasOwn(commands, msg?.cmd) ? commands[msg.cmd] : null
    if (!fn) throw gwError('unknown cmd ' + JSON.stringify(msg?.cmd))
    const data = await fn(msg)
    emitLine({ reply: req, ok: true, data: data ?? null })
  } catch (e) {
    emitLine({ reply: req, ok: false, error: e?.message ?? String(e) })
  }
}

// Commands are read only once the gateway is ready, and handled strictly in order. The test
// process holds stdin: when it goes away, so does the gateway (through its own SIGTERM path).
function startCommands () {
  let chain = Promise.resolve()
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', line => { chain = chain.then(() => handleLine(line)) })
  rl.on('close', () => { chain.then(() => process.kill(process.pid, 'SIGTERM')) })
}

if (process.env.WECHATY_PUPPET !== 'wechaty-puppet-mock') {
  logErr('the test controls work only with WECHATY_PUPPET=wechaty-puppet-mock')
}
