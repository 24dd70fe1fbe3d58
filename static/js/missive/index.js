// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module @missive/client
 * The Missive client library: `MissiveClient` (Socket.IO: catch-up, live delivery, gaps, dedupe,
 * outbox), `RestClient` (REST, uploads), `AttachmentLinks` (signed media URLs), `TokenSession`
 * (tokens), storages, and the protocol's types
 * (`import('@missive/client').Message`, `ClientToServerEvents`, …).
 */

export { MissiveClient } from './client.js';
export { RestClient } from './rest.js';
export { AttachmentLinks } from './attachments.js';
export { TokenSession, refreshMargin } from './session.js';
export { MissiveError, describeError } from './errors.js';
export { MemoryStorage } from './storage.js';
export { RoomStreams } from './streams.js';
export { Outbox, newClientId, MAX_PACKET_BYTES, packetBytes } from './outbox.js';
export { Emitter } from './emitter.js';
export { isChange, applyChange, applyHidden, parseReaction, newer } from './lifecycle.js';

/** @typedef {import('./protocol.js').Id} Id */
/** @typedef {import('./protocol.js').ErrorCode} ErrorCode */
/** @typedef {import('./protocol.js').ErrorBody} ErrorBody */
/** @typedef {import('./protocol.js').User} User */
/** @typedef {import('./protocol.js').Presence} Presence */
/** @typedef {import('./protocol.js').Message} Message */
/** @typedef {import('./protocol.js').Attachment} Attachment */
/** @typedef {import('./protocol.js').AttachmentLink} AttachmentLink */
/** @typedef {import('./protocol.js').Room} Room */
/** @typedef {import('./protocol.js').RoomInfo} RoomInfo */
/** @typedef {import('./protocol.js').RoomWithMembers} RoomWithMembers */
/** @typedef {import('./protocol.js').Member} Member */
/** @typedef {import('./protocol.js').SessionResponse} SessionResponse */
/** @typedef {import('./protocol.js').HistoryPage} HistoryPage */
/** @typedef {import('./protocol.js').Receipts} Receipts */
/** @typedef {import('./protocol.js').Reaction} Reaction */
/** @typedef {import('./protocol.js').ReactionChange} ReactionChange */
/** @typedef {import('./protocol.js').Hidden} Hidden */
/** @typedef {import('./protocol.js').Pusher} Pusher */
/** @typedef {import('./protocol.js').PusherInput} PusherInput */
/** @typedef {import('./protocol.js').WebPushSubscription} WebPushSubscription */
/** @typedef {import('./protocol.js').Mute} Mute */
/** @typedef {import('./protocol.js').PushNotification} PushNotification */
/** @typedef {import('./protocol.js').MessageKind} MessageKind */
/** @typedef {import('./protocol.js').Cursors} Cursors */
/** @typedef {import('./protocol.js').SyncBatch} SyncBatch */
/** @typedef {import('./protocol.js').Receipt} Receipt */
/** @typedef {import('./protocol.js').Typing} Typing */
/** @typedef {import('./protocol.js').PrivacySettings} PrivacySettings */
/** @typedef {import('./protocol.js').PrivacyChange} PrivacyChange */
/** @typedef {import('./protocol.js').BlockChange} BlockChange */
/** @typedef {import('./protocol.js').Invite} Invite */
/** @typedef {import('./protocol.js').InviteOptions} InviteOptions */
/** @typedef {import('./protocol.js').InvitePreview} InvitePreview */
/** @typedef {import('./protocol.js').JoinRequest} JoinRequest */
/** @typedef {import('./protocol.js').JoinOutcome} JoinOutcome */
/** @typedef {import('./protocol.js').Channel} Channel */
/** @typedef {import('./protocol.js').ReportPayload} ReportPayload */
/** @typedef {import('./protocol.js').Report} Report */
/** @typedef {import('./protocol.js').ClientToServerEvents} ClientToServerEvents */
/** @typedef {import('./protocol.js').ServerToClientEvents} ServerToClientEvents */
/** @typedef {import('./protocol.js').AdminServerToClientEvents} AdminServerToClientEvents */
/** @typedef {import('./outbox.js').OutboxItem} OutboxItem */
/** @typedef {import('./storage.js').KeyValueStorage} KeyValueStorage */
/** @typedef {import('./client.js').ClientEvents} ClientEvents */
/** @typedef {import('./client.js').Status} Status */
