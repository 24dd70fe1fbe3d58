// Replays the security audit's abuse scenarios (issue 11) against one server at its default
// settings and prints, for each, the server's peak RSS while it ran and after (Markdown rows
// for docs/security.md). Usage (from tests/js): MISSIVE_BIN=… node soak/abuse-rss.js
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const WebSocket = require('ws');
const c = require('../lib/client');
const { startServer } = require('../lib/server');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function measure(server, name, fn) {
  let peak = rss(server.pid);
  const timer = setInterval(() => { peak = Math.max(peak, rss(server.pid)); }, 20);
  const started = Date.now();
  let note = '';
  try { note = (await fn()) || ''; } catch (e) { note = `error: ${e.message}`; }
  const ms = Date.now() - started;
  await sleep(1000);
  clearInterval(timer);
  const health = await c.api(server.url, 'GET', '/healthz').then((r) => r.status, () => 'down');
  console.log(`| ${name} | ${peak.toFixed(0)} | ${rss(server.pid).toFixed(0)} | ${(ms / 1000).toFixed(1)} s | ${health} | ${note} |`);
}

function rawWs(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    ws.on('error', () => resolve(null));
    ws.once('message', () => resolve(ws));
  });
}

/** A login from another local address (the flood owns 127.0.0.1). */
function loginFrom(url, body, localAddress) {
  const { port } = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path: '/api/auth/login', method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', () => resolve('reset'));
    req.end(payload);
  });
}

async function main() {
  const server = await startServer({ env: { MISSIVE_SEND_RATE: '20', RUST_LOG: 'error' } });
  const url = server.url;
  console.log(`baseline RSS ${rss(server.pid).toFixed(0)} MiB`);
  console.log('| scenario | peak RSS MiB | RSS after MiB | took | /healthz after | outcome |');
  console.log('|---|---|---|---|---|---|');
  const [alice, bob, carol] = await c.users(url, 3);
  const room = await c.directRoom(url, alice, bob);

  await measure(server, '100 connections × 151 binary frames of 65,520 B, no CONNECT', async () => {
    const socks = (await Promise.all(Array.from({ length: 100 }, () => rawWs(url)))).filter(Boolean);
    for (const ws of socks) {
      ws.send('451000-["x",{"_placeholder":true,"num":0}]');
      for (let i = 0; i < 151; i += 1) ws.send(Buffer.alloc(65520));
    }
    await sleep(1500);
    const open = socks.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    socks.forEach((ws) => ws.terminate());
    return `${socks.length} opened (the rest refused by the handshake rate), ${open} still open`;
  });
  await sleep(5000);
  await measure(server, '1,500 logins cancelled after 30 ms', async () => {
    await Promise.all(Array.from({ length: 1500 }, async () => {
      const a = new AbortController();
      setTimeout(() => a.abort(), 30);
      await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: alice.username, password: 'wrong' }), signal: a.signal }).catch(() => {});
    }));
  });
  await sleep(3000);
  await measure(server, '1,024 failed logins (not cancelled), 200 at a time', async () => {
    const codes = {};
    for (let k = 0; k < 1024; k += 200) {
      const rs = await Promise.all(Array.from({ length: Math.min(200, 1024 - k) }, () => c.api(url, 'POST', '/api/auth/login', null, { username: 'nobody_x', password: 'wrong-password' }).catch(() => ({ status: 'reset' }))));
      for (const r of rs) codes[r.status] = (codes[r.status] || 0) + 1;
    }
    return JSON.stringify(codes);
  });
  await sleep(3000);
  await measure(server, '1,500 concurrent malformed logins; then one real login', async () => {
    const flood = Promise.all(Array.from({ length: 1500 }, (_, i) => c.api(url, 'POST', '/api/auth/login', null, { username: `bad name ${i}`, password: 'x' }).catch(() => ({ status: 'reset' }))));
    await sleep(100);
    const t0 = Date.now();
    const r = { status: await loginFrom(url, { username: carol.username, password: carol.password }, '127.0.0.9') };
    const took = Date.now() - t0;
    const rs = await flood;
    const codes = {};
    for (const x of rs) codes[x.status] = (codes[x.status] || 0) + 1;
    return `real login from another address answered ${r.status} in ${took} ms; flood ${JSON.stringify(codes)}`;
  });
  await sleep(4000);
  await measure(server, '300 concurrent handshakes with one token', async () => {
    const rs = await Promise.allSettled(Array.from({ length: 300 }, () => c.connect(url, { token: alice.token, waitSession: false })));
    const ok = rs.filter((r) => r.status === 'fulfilled').length;
    c.disconnectAll();
    return `${ok} accepted`;
  });
  await sleep(6000);
  const socket = await c.connect(url, { token: alice.token });
  await measure(server, '60,000 history events from one socket in 0.5 s; bystander REST', async () => {
    const acks = [];
    for (let i = 0; i < 60000; i += 1) acks.push(c.emitAck(socket, 'history', { room_id: room.id }, 20000).catch(() => ({ ok: false, error: { code: 'timeout' } })));
    const t0 = Date.now();
    await c.api(url, 'GET', '/api/me', carol.token);
    const lat = Date.now() - t0;
    const all = await Promise.all(acks);
    const ok = all.filter((a) => a.ok).length;
    const limited = all.filter((a) => !a.ok && a.error.code === 'rate_limited').length;
    return `${ok} served, ${limited} rate_limited; bystander GET /api/me ${lat} ms`;
  });
  await sleep(3000);
  await measure(server, '1,000 presence:query of 500 ids', async () => {
    const ids = Array.from({ length: 500 }, () => bob.id);
    const all = await Promise.all(Array.from({ length: 1000 }, () => c.emitAck(socket, 'presence:query', { user_ids: ids }, 20000).catch(() => ({ ok: false, error: { code: 'timeout' } }))));
    return `${all.filter((a) => a.ok).length} answered (${all.filter((a) => a.ok).length * 500} look-ups)`;
  });
  await sleep(3000);
  await measure(server, '1,000 renames (system messages)', async () => {
    const g = await c.createRoom(url, alice, { kind: 'group', name: 'g', members: [bob.id] });
    const all = await Promise.all(Array.from({ length: 1000 }, (_, i) => c.emitAck(socket, 'room:create', { kind: 'group', name: `r${i}` }, 20000).catch(() => ({ ok: false }))));
    await sleep(2500);
    const rs = await Promise.all(Array.from({ length: 1000 }, (_, i) => c.emitAck(socket, 'room:create', { kind: 'group', name: `x${i}` }, 20000).then(() => null)
      .then(() => c.api(url, 'PATCH', `/api/rooms/${g.id}`, alice.token, { name: `n${i}` }).catch(() => ({ status: 'reset' })))));
    return `${rs.filter((r) => r.status === 200).length} of 1,000 renames stored, ${all.filter((a) => a.ok).length} of 1,000 room:create`;
  });
  await sleep(3000);
  await measure(server, '1,100 rooms:list on a socket that never reads', async () => {
    const sock = await c.connect(url, { token: bob.token });
    const raw = sock.io.engine.transport.ws._socket;
    raw.pause();
    for (let i = 0; i < 1100; i += 1) sock.emit('rooms:list', {}, () => {});
    await sleep(2000);
    raw.resume();
    sock.close();
  });
  await measure(server, '1,100 idle TCP connections (fd limit)', async () => {
    const socks = await Promise.all(Array.from({ length: 1100 }, () => new Promise((r) => {
      const s = net.connect(Number(new URL(url).port), '127.0.0.1', () => r(s));
      s.gone = false;
      s.on("close", () => { s.gone = true; });
      s.on("end", () => { s.gone = true; });
      s.on('error', () => r(s));
      s.resume();
    })));
    await sleep(500);
    const refused = socks.filter((s) => s.gone).length;
    const h = await c.api(url, 'GET', '/healthz').then((r) => r.status, () => 'timeout');
    const t0 = Date.now();
    await sleep(12000);
    const open = socks.filter((s) => !s.gone).length;
    socks.forEach((s) => s.destroy());
    return `${refused} closed on accept; /healthz during: ${h}; still open after ${((Date.now() - t0) / 1000).toFixed(0)} s: ${open}`;
  });
  await sleep(3000);
  await measure(server, '20,000 polling handshakes', async () => {
    const codes = {};
    for (let k = 0; k < 20000; k += 500) {
      const rs = await Promise.all(Array.from({ length: 500 }, () => c.api(url, 'GET', '/socket.io/?EIO=4&transport=polling').catch(() => ({ status: 'reset' }))));
      for (const r of rs) codes[r.status] = (codes[r.status] || 0) + 1;
    }
    return JSON.stringify(codes);
  });
  await sleep(8000); // the handshake bucket the previous scenario emptied refills
  await measure(server, '3,000 guest sockets', async () => {
    const rs = await Promise.allSettled(Array.from({ length: 3000 }, () => c.connect(url, {})));
    const ok = rs.filter((r) => r.status === 'fulfilled').length;
    c.disconnectAll();
    const limited = rs.filter((r) => r.status === 'rejected' && r.reason.message === 'rate_limited').length;
    return `${ok} accepted, ${limited} refused rate_limited, ${3000 - ok - limited} refused by the handshake rate or connection limit`;
  });
  await server.stop();
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
