/**
 * The demo world served with WECHATY_PUPPET=wechaty-puppet-mock: the official mock puppet with a
 * fixed bot, contacts and rooms (ids used verbatim, no random faker data), logged in by itself.
 *
 * The official mock leaves a few things a real client needs unfinished: its sends return no
 * message id and never reach the sender as its own message, it never emits `ready`, and its
 * roomTopic() getter answers a constant. Those are completed here, on the instance, so that a
 * client sees what a real puppet would do. Nothing here is a test control; the test controls
 * live in tests/gateway/controls.mjs and wrap this puppet from outside.
 *
 * World JSON (WECHATY_PUPPET_MOCK_WORLD, or DEFAULT_WORLD):
 *   {"user": {"id": "bot", "name": "Bridge Bot"},
 *    "contacts": [{"id": "alice", "name": "Alice"}],
 *    "rooms": [{"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice"]}]}
 */
import { ConfigError } from './config.mjs'

export const DEFAULT_WORLD = {
  user: { id: 'bot', name: 'Bridge Bot' },
  contacts: [{ id: 'alice', name: 'Alice' }, { id: 'bob', name: 'Bob' }],
  rooms: [
    { id: 'room-family@chatroom', topic: 'Happy Family', members: ['alice', 'bob'] },
    { id: 'room-ops@chatroom', topic: 'Ops', members: ['bob'] },
  ],
}

// The mock never syncs anything, but clients wait for `ready` as they do with real puppets.
const READY_DELAY_MS = 50

/**
 * An error for the gRPC client: PuppetServer puts the JS stack into the status details, so keep
 * it to the message for a readable client-side exception.
 */
export function clientError (message) {
  const e = new Error(message)
  e.stack = `Error: ${message}`
  return e
}

/** Builds the mock puppet and its world; throws ConfigError on a world that does not hold together. */
export function createMockPuppet ({ PUPPET, mockModule, world, log }) {
  const spec = world ?? DEFAULT_WORLD
  const mocker = new mockModule.mock.Mocker()
  const puppet = new mockModule.PuppetMock({ mocker })

  const hasContact = id => mocker.cacheContactPayload.has(id)
  const hasRoom = id => mocker.cacheRoomPayload.has(id)

  function contactPayload (c) {
    if (!c || typeof c.id !== 'string' || !c.id) {
      throw new ConfigError(`the mock world has a contact without a non-empty string "id": ${JSON.stringify(c)}.`)
    }
    return {
      address: '',
      alias: c.alias,
      avatar: '',
      city: '',
      friend: c.friend ?? true,
      gender: PUPPET.types.ContactGender.Unknown,
      id: c.id,
      name: c.name ?? c.id,
      phone: [],
      province: '',
      signature: '',
      star: false,
      type: PUPPET.types.Contact.Individual,
      weixin: c.weixin,
    }
  }

  function createContact (c) {
    if (hasContact(c?.id)) throw new ConfigError(`the mock world declares contact ${c.id} twice.`)
    return mocker.createContact(contactPayload(c))
  }

  const user = createContact(spec.user ?? DEFAULT_WORLD.user)
  for (const c of spec.contacts ?? []) createContact(c)
  for (const r of spec.rooms ?? []) {
    if (!r || typeof r.id !== 'string' || !r.id) throw new ConfigError('the mock world has a room without a non-empty string "id".')
    if (hasRoom(r.id)) throw new ConfigError(`the mock world declares room ${r.id} twice.`)
    const members = r.members ?? []
    for (const id of members) {
      if (!hasContact(id)) throw new ConfigError(`room ${r.id} of the mock world has member ${JSON.stringify(id)}, which is not a declared contact.`)
    }
    mocker.createRoom({
      adminIdList: [],
      avatar: '',
      id: r.id,
      memberIdList: [user.id, ...new Set(members.filter(id => id !== user.id))],
      ownerId: r.owner,
      topic: r.topic ?? '',
    })
  }

  // The server's stop() RPC restarts the mocker, so logging in is a behaviour run on every start.
  mocker.use(function logInTheBot () {
    // stop() emits `logout` but keeps the user id, and login() refuses to log in twice.
    if (puppet.isLoggedIn) puppet.__currentUserId = undefined
    puppet.login(user.id)
    setTimeout(() => { if (puppet.isLoggedIn) puppet.emit('ready', { data: 'ready' }) }, READY_DELAY_MS)
    return () => {}
  })

  let counter = 0
  /** Every bot send: checked, stored as a message payload and echoed as the bot's own message. */
  async function send (conversationId, payload, what) {
    if (!puppet.isLoggedIn) throw clientError('mock puppet: not logged in')
    const isRoom = hasRoom(conversationId)
    if (!isRoom && !hasContact(conversationId)) throw clientError(`mock puppet: unknown conversation ${conversationId}`)
    counter += 1
    const id = `mock-msg-${Date.now().toString(36)}-${counter}`
    mocker.MessageMock.create({
      id,
      talkerId: user.id,
      timestamp: Date.now(),
      ...payload,
      ...(isRoom ? { roomId: conversationId, mentionIdList: payload.mentionIdList ?? [] } : { listenerId: conversationId }),
    })
    puppet.emit('message', { messageId: id })
    const where = isRoom ? mocker.roomPayload(conversationId).topic : mocker.contactPayload(conversationId).name
    log.info(`demo world: the bot sent ${what} to ${where}`)
    return id
  }

  const T = PUPPET.types.Message
  puppet.messageSendText = async (to, text, mentionIdList) =>
    send(to, { type: T.Text, text, mentionIdList: Array.isArray(mentionIdList) ? [...mentionIdList] : [] },
      `"${String(text).slice(0, 200)}"`)
  puppet.messageSendFile = async (to, file) => {
    const id = await send(to, { type: fileMessageType(T, file), filename: file.name }, `the file ${file.name}`)
    try {
      mocker.cacheFileBoxPayload.set(id, file.toJSON())
    } catch {
      // A stream file box cannot be serialised; only messageFile() on this message fails then.
    }
    return id
  }
  puppet.messageSendContact = async (to, contactId) => send(to, { type: T.Contact }, `the contact card of ${contactId}`)
  puppet.messageSendUrl = async (to, link) => send(to, { type: T.Url }, `the link ${link?.url}`)
  puppet.messageSendMiniProgram = async (to) => send(to, { type: T.MiniProgram }, 'a mini program')
  puppet.messageSendLocation = async (to) => send(to, { type: T.Location }, 'a location')

  puppet.roomTopic = async (roomId, topic) => {
    if (!hasRoom(roomId)) throw clientError(`unknown room ${roomId}`)
    if (typeof topic === 'undefined') return mocker.roomPayload(roomId).topic
    const payload = mocker.roomPayload(roomId)
    const oldTopic = payload.topic
    payload.topic = String(topic)
    try { puppet.cache?.room?.delete(roomId) } catch { /* nothing cached yet */ }
    puppet.emit('room-topic', { changerId: user.id, newTopic: payload.topic, oldTopic, roomId, timestamp: Date.now() })
  }

  return puppet
}

function fileMessageType (T, file) {
  const m = (file.mediaType || '').toLowerCase()
  const n = (file.name || '').toLowerCase()
  if (m.startsWith('image/') || /\.(jpe?g|png|gif|webp|bmp)$/.test(n)) return T.Image
  if (m.startsWith('video/') || /\.mp4$/.test(n)) return T.Video
  if (m.startsWith('audio/') || /\.(silk|sil|mp3)$/.test(n)) return T.Audio
  return T.Attachment
}
