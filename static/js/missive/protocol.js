// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module protocol
 * The wire contract of docs/protocol.md as types: every object, every REST body, every Socket.IO
 * event in both directions with its payload and ack. Types only: this module exports no values
 * (it exists so `tsc` can check the library, the web app and the interop suite against one
 * definition; a protocol change the types miss then fails to compile somewhere).
 *
 * Compatibility rule of the contract: fields may be added, so objects are open (a client keeps
 * fields it does not know).
 */

/** @typedef {string} Id */
/** @typedef {string} Time RFC 3339 UTC with milliseconds */

/**
 * @typedef {'invalid' | 'unauthenticated' | 'invalid_credentials' | 'forbidden' | 'not_found' |
 *   'conflict' | 'too_large' | 'quota_exceeded' | 'rate_limited' | 'unavailable' | 'internal'} ErrorCode
 * The protocol's error codes (§1).
 */

/** @typedef {{code: ErrorCode | string, message: string, retry_after_ms?: number}} ErrorBody */

/**
 * @typedef {object} User
 * @property {Id} id
 * @property {string} username
 * @property {string} display_name
 * @property {Time} created_at
 * @property {Attachment | null} [avatar] the profile picture ("Attachments")
 */

/**
 * An uploaded file as messages, profiles and rooms carry it ("Attachments"). Its bytes are
 * fetched with a signed link (`RestClient.attachmentLinks`, `AttachmentLinks`).
 * @typedef {object} Attachment
 * @property {Id} id
 * @property {string} name the uploader's file name (metadata only)
 * @property {string} content_type sniffed from the bytes by the server
 * @property {number} size bytes, as stored
 * @property {string} sha256 hex; the download's ETag
 * @property {number} [width] images only
 * @property {number} [height]
 * @property {string} [blurhash] images only: a placeholder to paint before the image loads
 * @property {boolean} thumbnail whether a thumbnail link exists
 */

/**
 * A signed download link (`POST /api/attachments/links`): paths relative to the server.
 * @typedef {{id: Id, url: string, thumbnail_url: string | null}} AttachmentLink
 */
/** @typedef {{links: AttachmentLink[], expires_at: number}} AttachmentLinks Unix seconds */
/** @typedef {{user_id: Id, online: boolean, last_seen_at: Time | null}} Presence */
/** @typedef {'direct' | 'group' | 'channel'} RoomKind */
/** @typedef {'owner' | 'admin' | 'member'} Role */

/**
 * @typedef {object} Message
 * @property {Id} id
 * @property {Id} room_id
 * @property {number} seq position in the room's gap-free stream (§2)
 * @property {Id} sender_id
 * @property {MessageKind} kind
 * @property {string} body for `system`, JSON text `{event, user_id, ...}`; for `reaction`, JSON text
 *   `{emoji, previous}` (see `ReactionChange`); empty for `delete` and for a tombstone
 * @property {string | null} client_id
 * @property {number | null} reply_to a seq of the same room
 * @property {Time} created_at
 * @property {number} [target_seq] change entries: the message changed (§7 "Message lifecycle")
 * @property {number} [changed_seq] the seq of the last change entry applied to this message
 * @property {Time} [edited_at]
 * @property {Time} [deleted_at] a tombstone: the body is gone
 * @property {Id} [deleted_by]
 * @property {true} [forwarded]
 * @property {Reaction[]} [reactions] as the reader sees them
 * @property {true} [hidden] deleted for the reader only ("delete for me")
 * @property {Attachment[]} [attachments] files sent with the message; `body` is then a caption
 */

/**
 * `text` and `system` are messages; `edit`, `delete` and `reaction` are change entries of the
 * stream: they carry `target_seq` and are applied to the message they change, never shown.
 * @typedef {'text' | 'system' | 'edit' | 'delete' | 'reaction'} MessageKind
 */

/**
 * @typedef {object} Reaction
 * @property {string} emoji
 * @property {number} count
 * @property {boolean} me the reader is among them
 * @property {Id[]} [user_ids] not in channels
 */

/** @typedef {{emoji: string | null, previous: string | null}} ReactionChange the body of a `reaction` entry, for its sender */
/** @typedef {{id: Id, room_id: Id, seq: number}} Hidden a message deleted for the caller only */

/**
 * `Room` as `room:updated` carries it: without the caller's own fields.
 * @typedef {object} RoomInfo
 * @property {Id} id
 * @property {RoomKind} kind
 * @property {string} name
 * @property {Time} created_at
 * @property {Id} owner_id
 * @property {number | null} max_members
 * @property {number} members_count
 * @property {number} last_seq
 * @property {Time | null} [closed_at] an operator closed the channel: read-only (absent from older servers)
 * @property {Message | null} [last_message]
 * @property {string} [description] groups and channels; empty when none
 * @property {Attachment | null} [picture] the group's or channel's picture
 */

/**
 * @typedef {RoomInfo & {my_role: Role, delivered_seq: number, read_seq: number,
 *   unread_count: number, last_message: Message | null}} Room
 */

/**
 * @typedef {object} Member
 * @property {Id} user_id
 * @property {string} username
 * @property {string} display_name
 * @property {Role} role
 * @property {Time} joined_at
 * @property {number} delivered_seq
 * @property {number} read_seq
 * @property {boolean} online
 */

/** @typedef {Room & {members: Member[]}} RoomWithMembers */
/** @typedef {User & {online: boolean, last_seen_at: Time | null}} UserWithPresence */

/**
 * @typedef {object} SessionResponse The `Session` object of §2.
 * @property {User} user
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {'Bearer'} token_type
 * @property {number} expires_in seconds
 */

/** @typedef {{messages: Message[], has_more: boolean}} HistoryPage */

// ------------------------------------------------------------------ privacy and safety (§14)

/** @typedef {'everyone' | 'contacts' | 'nobody'} LastSeenAudience who sees a user's presence and last seen */
/** @typedef {'everyone' | 'contacts'} GroupAddAudience who may add a user to groups */

/**
 * @typedef {object} PrivacySettings
 * @property {LastSeenAudience} last_seen default `contacts`
 * @property {boolean} read_receipts default true; false stops read positions in direct rooms both ways
 * @property {GroupAddAudience} group_add default `everyone`
 */

/** @typedef {Partial<PrivacySettings>} PrivacyChange any of the fields (`privacy:set`, `PATCH /api/me/privacy`) */

/**
 * @typedef {object} Invite A group invite link, as its owners and admins see it.
 * @property {string} token the link's only secret
 * @property {Id} room_id
 * @property {Id} created_by
 * @property {Time} created_at
 * @property {Time | null} expires_at
 * @property {number | null} max_uses
 * @property {number} uses
 * @property {boolean} approval joining makes a join request an owner or admin approves
 */

/** @typedef {{expires_in?: number, max_uses?: number, approval?: boolean}} InviteOptions `expires_in` in seconds */
/** @typedef {{room_id: Id, name: string, members_count: number, approval: boolean}} InvitePreview */
/** @typedef {{room_id: Id, user: User, created_at: Time}} JoinRequest */
/** @typedef {{room: Room} | {pending: true, room_id: Id}} JoinOutcome joined, or waiting for approval */
/** @typedef {{id: Id, name: string, description: string, followers_count: number, created_at: Time}} Channel a channel directory entry */

/**
 * @typedef {{user_id: Id, reason: string, room_id?: undefined, seq?: undefined} |
 *   {room_id: Id, seq: number, reason: string, user_id?: undefined}} ReportPayload a user, or a message
 */

/**
 * @typedef {object} Report
 * @property {Id} id
 * @property {Id} reporter_id
 * @property {Id} target_user_id
 * @property {Id | null} room_id
 * @property {number | null} seq
 * @property {string | null} message_body the message as it was when reported (operators only)
 * @property {string} reason
 * @property {'open' | 'resolved'} status
 * @property {Time} created_at
 * @property {Time | null} resolved_at
 * @property {Id | null} resolved_by
 */

/** @typedef {{user_id: Id, blocked: boolean}} BlockChange `block:updated` */
/** @typedef {{read: Id[], delivered: Id[], pending: Id[]}} Receipts */
/** @typedef {Record<Id, number>} Cursors `{room_id: seq}` this device holds (§5) */

// ------------------------------------------------------------------ notifications (§13)

/**
 * A Web Push subscription as `PushSubscription.toJSON()` gives it.
 * @typedef {{endpoint: string, keys: {p256dh: string, auth: string}, expirationTime?: number | null}} WebPushSubscription
 */

/**
 * The body of `POST /api/pushers`: a Web Push subscription (plus `kind`) or an HTTP push gateway.
 * @typedef {({kind: 'webpush'} & WebPushSubscription) |
 *   {kind: 'gateway', url: string, pushkey: string, app_id?: string}} PusherInput
 */

/**
 * Where one login is notified when it is not connected (subscription keys are never returned).
 * @typedef {object} Pusher
 * @property {number} id
 * @property {'webpush' | 'gateway'} kind
 * @property {string} url the push service endpoint (Web Push) or the gateway URL
 * @property {string} [pushkey]
 * @property {string} [app_id]
 * @property {Time} created_at
 */

/** @typedef {{room_id: Id, until: number | null}} Mute a room muted until `until` (Unix ms), or for good (`null`) */

/**
 * The `Notification` object a push carries (§13 "What a push carries"): everything with
 * `MISSIVE_PUSH_CONTENT=full`, no `body` with `sender`, only `room_id`, `seq` and `unread` with
 * `none`. `room_name` is given for groups only.
 * @typedef {object} PushNotification
 * @property {Id} room_id
 * @property {number} seq the newest message (coalesced ones are counted in `unread`)
 * @property {number} unread
 * @property {Id} [sender_id]
 * @property {string} [sender_name]
 * @property {string} [room_name]
 * @property {string} [body] at most 500 characters
 */

// ------------------------------------------------------------------ acks

/**
 * An ack: `{ok: true, ...T}` or `{ok: false, error}` (§1).
 * @template {object} T
 * @typedef {({ok: true} & T) | {ok: false, error: ErrorBody}} Ack
 */

/**
 * @template {object} T
 * @typedef {(res: Ack<T>) => void} AckFn
 */

// ------------------------------------------------------------------ client → server payloads (§7)

/** @typedef {{token: string, cursors?: Cursors}} AuthPayload */
/**
 * @typedef {{body: string, client_id?: string, reply_to?: number, attachments?: Id[]} &
 *   ({room_id: Id, to?: undefined} | {to: Id, room_id?: undefined})} SendPayload
 */
/** @typedef {{room_id: Id, seq: number}} SeqPayload */
/** @typedef {{room_id: Id, typing: boolean}} TypingPayload */
/** @typedef {{room_id: Id, before_seq?: number, after_seq?: number, limit?: number}} HistoryPayload */
/** @typedef {{kind: 'group' | 'channel', name: string, members?: Id[], max_members?: number, description?: string}} CreateRoomPayload */
/** @typedef {{room_id: Id, user_id: Id}} RoomUserPayload */
/** @typedef {{user_ids: Id[]} | {room_id: Id}} PresenceQueryPayload */
/** @typedef {{room_id: Id, seq: number, body: string}} EditPayload */
/** @typedef {{room_id: Id, seq: number, emoji: string}} ReactPayload */
/** @typedef {{room_id: Id, seq: number, to_room_id: Id}} ForwardPayload */
/** @typedef {{q: string, room_id?: Id, before?: Id, limit?: number}} SearchPayload */

/**
 * Client → server events on `/` (§7), in socket.io-client's `EventsMap` shape. The ack is
 * optional: an event sent without one is still processed (§1).
 * @typedef {{
 *   auth: (p: AuthPayload, ack?: AckFn<{user: User}>) => void,
 *   'message:send': (p: SendPayload, ack?: AckFn<{message: Message}>) => void,
 *   'message:ack': (p: SeqPayload, ack?: AckFn<{}>) => void,
 *   'message:read': (p: SeqPayload, ack?: AckFn<{}>) => void,
 *   typing: (p: TypingPayload, ack?: AckFn<{}>) => void,
 *   history: (p: HistoryPayload, ack?: AckFn<HistoryPage>) => void,
 *   'rooms:list': (p: {}, ack?: AckFn<{rooms: Room[]}>) => void,
 *   'room:create': (p: CreateRoomPayload, ack?: AckFn<{room: Room}>) => void,
 *   'room:join': (p: {room_id: Id}, ack?: AckFn<{room: Room}>) => void,
 *   'room:leave': (p: {room_id: Id}, ack?: AckFn<{}>) => void,
 *   'room:add': (p: RoomUserPayload, ack?: AckFn<{member: Member}>) => void,
 *   'room:remove': (p: RoomUserPayload, ack?: AckFn<{}>) => void,
 *   'presence:query': (p: PresenceQueryPayload, ack?: AckFn<{presence: Presence[]}>) => void,
 *   'profile:update': (p: {display_name: string}, ack?: AckFn<{user: User}>) => void,
 *   'message:edit': (p: EditPayload, ack?: AckFn<{message: Message}>) => void,
 *   'message:delete': (p: SeqPayload, ack?: AckFn<{}>) => void,
 *   'message:react': (p: ReactPayload, ack?: AckFn<{message: Message}>) => void,
 *   'message:hide': (p: SeqPayload, ack?: AckFn<{}>) => void,
 *   'hidden:list': (p: {after?: Id}, ack?: AckFn<{hidden: Hidden[]}>) => void,
 *   'message:forward': (p: ForwardPayload, ack?: AckFn<{message: Message}>) => void,
 *   search: (p: SearchPayload, ack?: AckFn<HistoryPage>) => void,
 *   block: (p: {user_id: Id}, ack?: AckFn<{}>) => void,
 *   unblock: (p: {user_id: Id}, ack?: AckFn<{}>) => void,
 *   'blocks:list': (p: {}, ack?: AckFn<{users: User[]}>) => void,
 *   'privacy:get': (p: {}, ack?: AckFn<{privacy: PrivacySettings}>) => void,
 *   'privacy:set': (p: PrivacyChange, ack?: AckFn<{privacy: PrivacySettings}>) => void,
 *   'invite:create': (p: InviteOptions & {room_id: Id}, ack?: AckFn<{invite: Invite}>) => void,
 *   'invite:revoke': (p: {token: string}, ack?: AckFn<{}>) => void,
 *   'invite:join': (p: {token: string}, ack?: AckFn<JoinOutcome>) => void,
 *   'channels:search': (p: {q?: string, limit?: number}, ack?: AckFn<{channels: Channel[]}>) => void,
 *   report: (p: ReportPayload, ack?: AckFn<{report: Report}>) => void,
 * }} ClientToServerEvents
 */

/** @typedef {keyof ClientToServerEvents} ClientEvent */
/**
 * The payload of a client event.
 * @template {ClientEvent} E
 * @typedef {Parameters<ClientToServerEvents[E]>[0]} PayloadOf
 */
/**
 * The success ack (`{ok: true, ...}`) of a client event.
 * @template {ClientEvent} E
 * @typedef {Extract<Parameters<NonNullable<Parameters<ClientToServerEvents[E]>[1]>>[0], {ok: true}>} OkOf
 */

// ------------------------------------------------------------------ server → client (§8)

/** @typedef {{room_id: Id, messages: Message[], has_more: boolean}} SyncBatch */
/** @typedef {{rooms: number, messages: number}} Synced */
/** @typedef {{room_id: Id, user_id: Id, delivered_seq: number, read_seq: number}} Receipt */
/** @typedef {{room_id: Id, user_id: Id, typing: boolean}} Typing */

/**
 * Server → client events on `/` (§8).
 * @typedef {{
 *   session: (p: {user: User}) => void,
 *   message: (m: Message) => void,
 *   sync: (b: SyncBatch, ack: (...args: unknown[]) => void) => void,
 *   synced: (s: Synced) => void,
 *   receipt: (r: Receipt) => void,
 *   typing: (t: Typing) => void,
 *   presence: (p: Presence) => void,
 *   'room:updated': (r: RoomInfo) => void,
 *   'room:removed': (p: {room_id: Id}) => void,
 *   'user:updated': (u: User) => void,
 *   'message:hidden': (h: Hidden) => void,
 *   'block:updated': (b: BlockChange) => void,
 *   'privacy:updated': (p: PrivacySettings) => void,
 *   'room:muted': (m: Mute) => void,
 *   'room:unmuted': (p: {room_id: Id}) => void,
 * }} ServerToClientEvents
 */

/** @typedef {{nodes: number, sockets: number, users_online: number, messages_per_second: number, catch_up_backlog: number}} AdminStats */
/** @typedef {{stats: (s: AdminStats) => void, 'report:new': (r: Report) => void}} AdminServerToClientEvents */


export {};
