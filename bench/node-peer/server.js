// The Node peer of `scripts/bench.sh`: what people build by hand for persistent direct
// messages with socket.io 4.8 and better-sqlite3 12, the way socket.io's delivery-guarantees
// tutorial does it, so the benchmark can run the same `dm` load against it and Missive.
//
// - SQLite in WAL mode; `synchronous` from PEER_SQLITE_SYNCHRONOUS (default `full`, the
//   library's own default, which is also Missive's).
// - The handshake's `auth.token` is the user id (no accounts, no passwords: the peer is
//   given that work for free); each socket joins its user's room.
// - `message:send` `{to, body, client_id?}`: persist, then ack `{ok: true, seq}`, then emit
//   `message` `{seq, from, to, body}` to the recipient's room. `client_offset` is a unique
//   column: a repeated `client_id` is acked again without storing or delivering twice.
// - A socket connecting with `auth.serverOffset` gets the messages addressed to it after that
//   id (the tutorial's catch-up); every socket then gets `synced`.
//
// Environment: PEER_ADDR (default 127.0.0.1), PEER_PORT (default 0: any free port), PEER_DB
// (default peer.db), PEER_SQLITE_SYNCHRONOUS. Prints `node-peer listening on http://host:port`.
'use strict';

const { createServer } = require('node:http');
const { Server } = require('socket.io');
const Database = require('better-sqlite3');

const SYNC_LEVELS = ['off', 'normal', 'full', 'extra'];
const synchronous = (process.env.PEER_SQLITE_SYNCHRONOUS || 'full').toLowerCase();
if (!SYNC_LEVELS.includes(synchronous)) {
  console.error(`PEER_SQLITE_SYNCHRONOUS must be one of ${SYNC_LEVELS.join(', ')}`);
  process.exit(2);
}
const MAX_BODY = 4000;

const db = new Database(process.env.PEER_DB || 'peer.db');
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${synchronous}`);
db.exec(`
  create table if not exists messages (
    id integer primary key autoincrement,
    client_offset text unique,
    sender text not null,
    recipient text not null,
    body text not null,
    created_at integer not null
  );
  create index if not exists messages_recipient on messages (recipient, id);
`);
const insert = db.prepare(
  'insert into messages (client_offset, sender, recipient, body, created_at) values (?, ?, ?, ?, ?)'
);
const since = db.prepare(
  'select id, sender, recipient, body from messages where recipient = ? and id > ? order by id'
);

const http = createServer();
const io = new Server(http);

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (typeof token !== 'string' || token.length === 0 || token.length > 64) {
    return next(new Error('unauthenticated'));
  }
  socket.data.user = token;
  next();
});

io.on('connection', (socket) => {
  const user = socket.data.user;
  socket.join(user);

  socket.on('message:send', (input, ack) => {
    if (typeof ack !== 'function') return;
    const to = input && input.to;
    const body = input && input.body;
    const clientId = input && input.client_id;
    if (
      typeof to !== 'string' || to.length === 0 || to === user ||
      typeof body !== 'string' || body.length === 0 || body.length > MAX_BODY ||
      (clientId !== undefined && typeof clientId !== 'string')
    ) {
      return ack({ ok: false, error: 'invalid' });
    }
    const offset = clientId === undefined ? null : `${user}:${clientId}`;
    let result;
    try {
      result = insert.run(offset, user, to, body, Date.now());
    } catch (e) {
      if (e.code === 'SQLITE_CONSTRAINT_UNIQUE') {
        // Stored before: the client retried; ack again, deliver nothing twice.
        return ack({ ok: true, duplicate: true });
      }
      return ack({ ok: false, error: 'internal' });
    }
    const seq = Number(result.lastInsertRowid);
    ack({ ok: true, seq });
    io.to(to).emit('message', { seq, from: user, to, body });
  });

  const offset = socket.handshake.auth.serverOffset;
  if (Number.isSafeInteger(offset) && offset >= 0) {
    for (const row of since.iterate(user, offset)) {
      socket.emit('message', { seq: row.id, from: row.sender, to: row.recipient, body: row.body });
    }
  }
  socket.emit('synced');
});

function shutdown() {
  io.close(() => {
    db.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

const host = process.env.PEER_ADDR || '127.0.0.1';
http.listen(Number(process.env.PEER_PORT || 0), host, () => {
  const { port } = http.address();
  console.log(`node-peer listening on http://${host}:${port} (synchronous=${synchronous})`);
});
