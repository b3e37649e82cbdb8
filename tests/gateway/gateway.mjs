#!/usr/bin/env node
/**
 * Mock WeChat gateway for the test suite.
 *
 * Runs the official wechaty puppet-service gRPC server (`PuppetServer` from
 * `wechaty-puppet-service`) in front of the official mock puppet
 * (`PuppetMock` from `wechaty-puppet-mock`), so the Python wechaty SDK talks
 * to the same server code it would talk to in production, while the test
 * suite controls the "WeChat side" and observes everything the bot sends.
 *
 * Usage:
 *   node gateway.mjs --port PORT --token TOKEN [--fixture FIXTURE.json] [--host 127.0.0.1]
 *
 * Fixture JSON:
 *   {"user": {"id": "bot", "name": "Bridge Bot"},
 *    "contacts": [{"id": "alice", "name": "Alice"}],
 *    "rooms": [{"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice"]}]}
 *
 * stdout carries ONLY protocol JSON lines (events and command replies);
 * every log line goes to stderr.  Control commands arrive as JSON lines on
 * stdin; see README.md next to this file for the protocol.
 *
 * Heavy modules are imported dynamically *after* console output has been
 * redirected and the environment defaults are set, because wechaty's logger
 * (brolog) prints info-level lines with console.info (= stdout) and reads its
 * level from the environment at import time.
 */
import fs from 'node:fs'
import readline from 'node:readline'
import { parseArgs } from 'node:util'

// ---------------------------------------------------------------- stdout hygiene
const writeStdout = process.stdout.write.bind(process.stdout)
for (const name of ['log', 'info', 'debug', 'trace']) {
  console[name] = (...args) => console.error(...args)
}
// Anything else that writes to process.stdout directly is diverted to stderr too.
process.stdout.write = (...args) => process.stderr.write(...args)

/** Write one protocol object as a JSON line on the real stdout. */
function emitLine (obj) {
  writeStdout(JSON.stringify(obj) + '\n')
}

function logErr (...args) {
  process.stderr.write('[gateway] ' + args.join(' ') + '\n')
}

// ---------------------------------------------------------------- arguments
const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
    fixture: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
  },
  strict: true,
})
if (!argv.port || !argv.token) {
  logErr('usage: node gateway.mjs --port PORT --token TOKEN [--fixture FIXTURE.json] [--host HOST]')
  process.exit(2)
}
const PORT = Number(argv.port)
const TOKEN = argv.token
const HOST = argv.host

const fixture = argv.fixture
  ? JSON.parse(fs.readFileSync(argv.fixture, 'utf8'))
  : {}
const userSpec = fixture.user || { id: 'bot', name: 'Bridge Bot' }

// The Python SDK speaks plain-text HTTP/2; the server must not require TLS.
process.env.WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER ??= 'true'
process.env.WECHATY_LOG ??= 'warn'

const { PuppetServer } = await import('wechaty-puppet-service')
const { PuppetMock, mock } = await import('wechaty-puppet-mock')
const PUPPET = await import('wechaty-puppet')

// ---------------------------------------------------------------- mock world
const mocker = new mock.Mocker()
const puppet = new PuppetMock({ mocker })

/** Deterministic contact payload: the mock's defaults are random faker data with avatar URLs. */
function contactPayload (spec) {
  if (!spec || typeof spec.id !== 'string' || !spec.id) {
    throw gwError('contact needs a non-empty string "id": ' + JSON.stringify(spec))
  }
  return {
    address: '',
    alias: spec.alias,
    avatar: '',
    city: '',
    friend: spec.friend ?? true,
    gender: PUPPET.types.ContactGender.Unknown,
    id: spec.id,
    name: spec.name ?? spec.id,
    phone: [],
    province: '',
    signature: '',
    star: false,
    type: PUPPET.types.Contact.Individual,
    weixin: spec.weixin,
  }
}

/**
 * Errors thrown to the SDK: gRPC puts the JS stack into the status details,
 * so keep it to the message for readable client-side exceptions.
 */
function gwError (message) {
  const e = new Error(message)
  e.stack = `Error: ${message}`
  return e
}

function hasContact (id) { return mocker.cacheContactPayload.has(id) }
function hasRoom (id) { return mocker.cacheRoomPayload.has(id) }

function createContact (spec) {
  if (hasContact(spec.id)) throw gwError(`contact ${spec.id} already exists`)
  return mocker.createContact(contactPayload(spec))
}

function checkMembers (memberIds) {
  if (!Array.isArray(memberIds)) throw gwError('"members" must be a list of contact ids')
  for (const id of memberIds) {
    if (!hasContact(id)) throw gwError(`unknown contact id ${JSON.stringify(id)} (declare it in "contacts")`)
  }
}

/**
 * Create a room with exactly the given id. `withBot` controls whether the bot
 * is put into the member list right away (fixture rooms) or joins afterwards
 * through RoomMock.add(), which emits the room-join event (add_room).
 */
function createRoom (spec, withBot) {
  if (!spec || typeof spec.id !== 'string' || !spec.id) {
    throw gwError('room needs a non-empty string "id"')
  }
  if (hasRoom(spec.id)) throw gwError(`room ${spec.id} already exists`)
  const members = spec.members ?? []
  checkMembers(members)
  const memberIdList = [...new Set(members.filter(id => id !== user.id))]
  if (withBot) memberIdList.unshift(user.id)
  return mocker.createRoom({
    adminIdList: [],
    avatar: '',
    id: spec.id,
    memberIdList,
    ownerId: spec.owner,
    topic: spec.topic ?? '',
  })
}

const user = createContact(userSpec)
for (const c of fixture.contacts ?? []) createContact(c)
for (const r of fixture.rooms ?? []) createRoom(r, true)

/** Forget the server-side payload cache so the next payload request reads the mock store. */
function dirtyRoom (id) {
  try { puppet.cache?.room?.delete(id) } catch (e) { logErr('cache delete failed', e) }
}

// ---------------------------------------------------------------- login state
// The Python SDK calls the server's stop() then start() on every connect, which
// restarts the mocker: the behaviour below runs on each start.  It only logs the
// bot in (unless the test logged it out) and must return a cleanup function.
let wantLoggedIn = true

function emitReadySoon () {
  // The mock never emits 'ready'; real puppets do once their data is synced.
  setTimeout(() => { if (puppet.isLoggedIn) puppet.emit('ready', { data: 'ready' }) }, 50)
}

function loginBot () {
  if (puppet.isLoggedIn) {
    // puppet.stop() emits 'logout' but keeps the user id; clear the stale id
    // so that login() works (it refuses to log in twice).
    puppet.__currentUserId = undefined
  }
  puppet.login(user.id)
  emitReadySoon()
}

mocker.use(function gatewayBehavior () {
  if (wantLoggedIn) loginBot()
  return () => {}
})

// ---------------------------------------------------------------- recording
let seq = 0
let records = []
const failing = new Set()
let msgCounter = 0

function newMessageId () {
  msgCounter += 1
  return `gw-msg-${Date.now().toString(36)}-${msgCounter}`
}

/**
 * Common path of every bot send: validates, applies fail_room, records the
 * send, and stores a real message payload (so the SDK's `await msg.ready()`
 * after `room.say()` works) which is also echoed as a 'message' event, as
 * real puppets do for the bot's own messages.
 */
async function botSend (conversationId, type, fields, messagePayload) {
  if (!puppet.isLoggedIn) throw gwError('mock gateway: not logged in')
  const isRoom = hasRoom(conversationId)
  if (!isRoom && !hasContact(conversationId)) {
    throw gwError(`mock gateway: unknown conversation ${conversationId}`)
  }
  if (failing.has(conversationId)) {
    throw gwError(`mock gateway: sending to ${conversationId} fails (fail_room)`)
  }
  const rec = {
    seq: ++seq,
    room_id: isRoom ? conversationId : null,
    room_topic: isRoom ? mocker.roomPayload(conversationId).topic : null,
    to_id: isRoom ? null : conversationId,
    type,
    text: null,
    mention_ids: [],
    file: null,
    ...fields,
    ts: Date.now(),
  }
  const id = newMessageId()
  rec.message_id = id
  records.push(rec)
  emitLine({ event: 'sent', ...rec })

  const payload = {
    id,
    talkerId: user.id,
    timestamp: rec.ts,
    ...messagePayload,
    ...(isRoom
      ? { roomId: conversationId, mentionIdList: rec.mention_ids }
      : { listenerId: conversationId }),
  }
  mocker.MessageMock.create(payload)
  puppet.emit('message', { messageId: id })
  return id
}

function fileMessageType (name, mime) {
  const m = (mime || '').toLowerCase()
  const n = (name || '').toLowerCase()
  if (m.startsWith('image/') || /\.(jpe?g|png|gif|webp|bmp)$/.test(n)) return PUPPET.types.Message.Image
  if (m.startsWith('video/') || /\.mp4$/.test(n)) return PUPPET.types.Message.Video
  if (m.startsWith('audio/') || /\.(silk|sil|mp3)$/.test(n)) return PUPPET.types.Message.Audio
  return PUPPET.types.Message.Attachment
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

puppet.messageSendText = async (conversationId, text, mentionIdList) => {
  const mentionIds = Array.isArray(mentionIdList) ? [...mentionIdList] : []
  return botSend(conversationId, 'text', { text, mention_ids: mentionIds },
    { type: PUPPET.types.Message.Text, text })
}

puppet.messageSendFile = async (conversationId, file) => {
  if (!puppet.isLoggedIn) throw gwError('mock gateway: not logged in')
  if (failing.has(conversationId)) {
    throw gwError(`mock gateway: sending to ${conversationId} fails (fail_room)`)
  }
  const info = await describeFile(file)
  const type = fileMessageType(info.name, info.mime)
  const id = await botSend(conversationId, 'file', { file: info }, { type, filename: info.name })
  try {
    mocker.cacheFileBoxPayload.set(id, file.toJSON())
  } catch (e) {
    logErr('file box not serialisable, messageFile() will fail for', id)
  }
  return id
}

puppet.messageSendContact = async (conversationId, contactId) =>
  botSend(conversationId, 'contact', { contact_id: contactId },
    { type: PUPPET.types.Message.Contact })

puppet.messageSendUrl = async (conversationId, urlLinkPayload) =>
  botSend(conversationId, 'url', { payload: urlLinkPayload, text: urlLinkPayload?.url ?? null },
    { type: PUPPET.types.Message.Url })

puppet.messageSendMiniProgram = async (conversationId, miniProgramPayload) =>
  botSend(conversationId, 'mini_program', { payload: miniProgramPayload },
    { type: PUPPET.types.Message.MiniProgram })

puppet.messageSendLocation = async (conversationId, locationPayload) =>
  botSend(conversationId, 'location', { payload: locationPayload },
    { type: PUPPET.types.Message.Location })

// The mock's roomTopic() getter returns a constant and its setter does nothing.
puppet.roomTopic = async (roomId, topic) => {
  if (!hasRoom(roomId)) throw gwError(`unknown room ${roomId}`)
  if (typeof topic === 'undefined') return mocker.roomPayload(roomId).topic
  renameRoom(roomId, topic, user.id)
}

// ---------------------------------------------------------------- room helpers
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
  puppet.emit('room-topic', {
    changerId,
    newTopic: topic,
    oldTopic,
    roomId: id,
    timestamp: Date.now(),
  })
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
    if (!puppet.isLoggedIn) loginBot()
    return { logged_in: puppet.isLoggedIn }
  },

  status: () => ({
    logged_in: puppet.isLoggedIn,
    user_id: user.id,
    failing: [...failing],
  }),

  add_contact: (c) => {
    createContact({ id: c.id, name: c.name, alias: c.alias })
    return { id: c.id }
  },

  add_room: (c) => {
    const room = createRoom({ id: c.id, topic: c.topic, members: c.members ?? [] }, false)
    const inviterId = c.inviter_id ?? room.payload.memberIdList[0] ?? user.id
    if (!hasContact(inviterId)) throw gwError(`unknown contact ${inviterId}`)
    dirtyRoom(c.id)
    // RoomMock.add() appends the bot to the member list and emits room-join.
    room.add(user).by(mocker.ContactMock.load(inviterId))
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
      conversation = user // direct message to the bot
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

  rooms: () => [...mocker.cacheRoomPayload.keys()].map(roomInfo),

  contacts: () => [...mocker.cacheContactPayload.values()].map(p => ({ id: p.id, name: p.name })),
}

function firstOtherMember (roomId) {
  if (!hasRoom(roomId)) throw gwError(`unknown room ${roomId}`)
  return mocker.roomPayload(roomId).memberIdList.find(id => id !== user.id) ?? user.id
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
    const fn = commands[msg?.cmd]
    if (!fn) throw gwError('unknown cmd ' + JSON.stringify(msg?.cmd))
    const data = await fn(msg)
    emitLine({ reply: req, ok: true, data: data ?? null })
  } catch (e) {
    emitLine({ reply: req, ok: false, error: e?.message ?? String(e) })
  }
}

// ---------------------------------------------------------------- lifecycle
const server = new PuppetServer({
  endpoint: `${HOST}:${PORT}`,
  puppet,
  token: TOKEN,
  tls: { disable: true },
})

let shuttingDown = false
async function shutdown (why, code = 0) {
  if (shuttingDown) return
  shuttingDown = true
  logErr('shutting down:', why)
  const hardExit = setTimeout(() => process.exit(code), 3000)
  hardExit.unref()
  try { await server.stop() } catch (e) { logErr('server.stop()', e?.message) }
  try { await puppet.stop() } catch (e) { logErr('puppet.stop()', e?.message) }
  process.exit(code)
}

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
process.on('uncaughtException', (e) => logErr('uncaughtException:', e?.stack ?? e))
process.on('unhandledRejection', (e) => logErr('unhandledRejection:', e?.stack ?? e))

try {
  const loggedIn = new Promise((resolve, reject) => {
    puppet.once('login', resolve)
    setTimeout(() => reject(new Error('bot did not log in within 10s')), 10000).unref()
  })
  await puppet.start()
  await loggedIn
  await server.start()
} catch (e) {
  logErr('startup failed:', e?.stack ?? e)
  process.exit(1)
}
emitLine({ event: 'ready', port: PORT, user_id: user.id })

// Commands are read only once the gateway is ready, and handled strictly in order.
let chain = Promise.resolve()
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', line => { chain = chain.then(() => handleLine(line)) })
rl.on('close', () => { chain.then(() => shutdown('stdin closed')) })
