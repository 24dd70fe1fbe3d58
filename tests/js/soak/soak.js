// Mixed load for scripts/soak.sh: real users chatting over the official socket.io-client with
// reconnect churn, history and presence reads, logins, and a steady trickle of the abuse the
// security audit used (guests that never authenticate, binary attachments, silent TCP
// connections, cancelled logins). Runs for SOAK_SECONDS against SOAK_URL, then prints totals.
'use strict';

const net = require('node:net');
const WebSocket = require('ws');
const c = require('../lib/client');

const URL_ = process.env.SOAK_URL;
const SECONDS = Number(process.env.SOAK_SECONDS || 3600);
const USERS = Number(process.env.SOAK_USERS || 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const counts = { sent: 0, sendErrors: 0, reconnects: 0, history: 0, presence: 0, logins: 0, abuse: 0, errors: 0 };

async function main() {
  const end = Date.now() + SECONDS * 1000;
  const users = [];
  for (let i = 0; i < USERS; i += 1) users.push(await c.register(URL_, { prefix: 'soak' }));
  const rooms = [];
  for (let i = 0; i < USERS; i += 2) rooms.push((await c.directRoom(URL_, users[i], users[i + 1])).id);
  const sockets = await Promise.all(users.map((u) => c.connect(URL_, { token: u.token })));
  const roomOf = (i) => rooms[Math.floor(i / 2)];

  const loops = [];
  // Chat: each user sends about 2 messages a second.
  loops.push(...users.map((_, i) => (async () => {
    while (Date.now() < end) {
      const s = sockets[i];
      if (s.connected) {
        const ack = await c.emitAck(s, 'message:send', { room_id: roomOf(i), body: `m${counts.sent}`, client_id: `c-${i}-${counts.sent}` }).catch(() => null);
        if (ack && ack.ok) counts.sent += 1; else counts.sendErrors += 1;
        // Keep the log of received events from growing without bound.
        s.eventLog.length = 0;
      }
      await sleep(400 + Math.random() * 200);
    }
  })()));
  // Churn: a random socket reconnects every 2 s with its cursor, and catches up.
  loops.push((async () => {
    while (Date.now() < end) {
      await sleep(2000);
      const i = Math.floor(Math.random() * users.length);
      sockets[i].close();
      users[i].token = (await c.login(URL_, users[i]).catch(() => ({ access_token: users[i].token }))).access_token;
      counts.logins += 1;
      sockets[i] = await c.connect(URL_, { token: users[i].token }).catch(() => sockets[i]);
      counts.reconnects += 1;
    }
  })());
  // Reads: history and presence.
  loops.push((async () => {
    while (Date.now() < end) {
      await sleep(250);
      const i = Math.floor(Math.random() * users.length);
      const s = sockets[i];
      if (!s.connected) continue;
      await c.emitAck(s, 'history', { room_id: roomOf(i), limit: 50 }).catch(() => null);
      counts.history += 1;
      await c.emitAck(s, 'presence:query', { user_ids: users.slice(0, 10).map((u) => u.id) }).catch(() => null);
      counts.presence += 1;
    }
  })());
  // Abuse: a guest that never authenticates, a binary attachment, a silent TCP connection and
  // a cancelled login, every second.
  loops.push((async () => {
    const { hostname, port } = new URL(URL_);
    while (Date.now() < end) {
      await sleep(1000);
      try {
        c.connect(URL_, {}).catch(() => {});
        const ws = new WebSocket(`${URL_.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
        ws.on('error', () => {});
        ws.on('open', () => { ws.send('45100-["x",{"_placeholder":true,"num":0}]'); ws.send(Buffer.alloc(60000)); });
        const silent = net.connect({ host: hostname, port: Number(port) });
        silent.on('error', () => {});
        setTimeout(() => silent.destroy(), 15000);
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 20);
        fetch(`${URL_}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: users[0].username, password: 'wrong' }), signal: abort.signal }).catch(() => {});
        counts.abuse += 1;
      } catch (_) {
        counts.errors += 1;
      }
    }
  })());
  await Promise.all(loops);
  for (const s of sockets) s.close();
  c.disconnectAll();
  console.log(JSON.stringify(counts));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
