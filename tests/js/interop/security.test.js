// docs/security.md: one test per finding of the resource-control audit (issue 11). Each drives
// the real server the way the abuse did (raw WebSockets, raw TCP, floods of requests) and
// checks the bound that now holds; on the code before the fix each of these failed.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const WebSocket = require('ws');
const c = require('../lib/client');
const { startServer } = require('../lib/server');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The server process's resident memory, in MiB. */
function rssMiB(server) {
  const status = fs.readFileSync(`/proc/${server.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/** Starts a server for one describe block; `env` overrides the defaults under test. */
function ownServer(env) {
  const ctx = {};
  before(async () => {
    ctx.server = await startServer({ env });
    ctx.url = ctx.server.url;
  });
  after(async () => {
    c.disconnectAll();
    if (ctx.server) await ctx.server.stop();
  });
  return ctx;
}

/** Opens a raw Engine.IO WebSocket and resolves once the server's open packet arrived. */
function rawSocket(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    ws.closedAt = null;
    ws.on('close', () => { ws.closedAt = Date.now(); });
    ws.once('message', (data) => {
      if (String(data).startsWith('0')) resolve(ws);
      else reject(new Error(`unexpected first packet ${data}`));
    });
    ws.once('error', reject);
  });
}

/** Resolves true once `ws` is closed, false if it is still open after `ms`. */
function closedWithin(ws, ms) {
  if (ws.closedAt) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    ws.once('close', () => { clearTimeout(t); resolve(true); });
  });
}

/** Resolves true once the TCP socket is closed by the server, false if still open after `ms`. */
function tcpClosedWithin(sock, ms) {
  if (sock.destroyed || sock.readableEnded) return Promise.resolve(true);
  sock.resume(); // a response must be read for 'end' to be emitted
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    const done = () => { clearTimeout(t); resolve(true); };
    sock.once('close', done);
    sock.once('end', done);
  });
}

function tcpConnect(url, localAddress) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: hostname, port: Number(port), localAddress }, () => resolve(sock));
    sock.on('error', () => {});
    sock.once('error', reject);
  });
}

/** A JSON POST from a chosen local address (127.0.0.x), for per-address limits. */
function postFrom(url, path, body, localAddress = '127.0.0.1') {
  const { hostname, port } = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: hostname,
      port: Number(port),
      path,
      method: 'POST',
      localAddress,
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let parsed = null;
        try { parsed = JSON.parse(text); } catch (_) { parsed = text; }
        resolve({ status: res.statusCode, body: parsed, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('Socket.IO transport abuse (default settings)', () => {
  const ctx = ownServer({});

  it('a packet announcing binary attachments closes its connection before any attachment is held', async () => {
    const ws = await rawSocket(ctx.url);
    // EIO message (4) + Socket.IO BINARY_EVENT (5) announcing two attachments, no CONNECT
    // first; only one follows, so a parser that accepts attachments waits for the other.
    ws.send('452-["history",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    ws.send(Buffer.alloc(60000));

    assert.equal(await closedWithin(ws, 2000), true, 'the connection is still open');
  });

  it('100 connections streaming binary attachments leave the server under 100 MiB', async () => {
    const sockets = await Promise.all(Array.from({ length: 100 }, () => rawSocket(ctx.url).catch(() => null)));
    for (const ws of sockets.filter(Boolean)) {
      // 1,000 attachments announced, 20 frames of 65,000 B sent: 1.3 MB held per connection
      // by a parser that accepts them.
      ws.send('451000-["history",{"_placeholder":true,"num":0}]');
      for (let i = 0; i < 20; i += 1) ws.send(Buffer.alloc(65000));
    }
    await sleep(500);

    const rss = rssMiB(ctx.server);
    for (const ws of sockets.filter(Boolean)) ws.terminate();
    assert.ok(rss < 100, `RSS ${rss.toFixed(1)} MiB`);
  });

  it('a connection that never joins a namespace is dropped within the 5 s connect timeout', async () => {
    const ws = await rawSocket(ctx.url);

    assert.equal(await closedWithin(ws, 7000), true, 'still open after 7 s without CONNECT');
  });

  it('new Engine.IO sessions from one address are rate limited with 429 rate_limited', async () => {
    await sleep(1500); // let the bucket the earlier tests drew on refill
    const results = await Promise.all(Array.from({ length: 250 }, () => c.api(ctx.url, 'GET', '/socket.io/?EIO=4&transport=polling')));

    const ok = results.filter((r) => r.status === 200).length;
    const limited = results.filter((r) => r.status === 429);
    assert.ok(ok >= 50 && ok <= 140, `${ok} of 250 handshakes accepted`);
    assert.ok(limited.length > 0, 'none refused');
    c.assertRestError(limited[0], 429, 'rate_limited');
    assert.ok(Number(limited[0].headers.get('retry-after')) >= 1);
  });

  it('a handshake from another web origin is refused, one from the server\'s own origin is not', async () => {
    await sleep(1000);
    const host = new URL(ctx.url).host;
    const evil = await c.api(ctx.url, 'GET', '/socket.io/?EIO=4&transport=polling', null, undefined, { origin: 'https://evil.example' });
    const own = await c.api(ctx.url, 'GET', '/socket.io/?EIO=4&transport=polling', null, undefined, { origin: `http://${host}` });

    assert.equal(evil.status, 403);
    assert.equal(own.status, 200);
  });
});

describe('sessions per user and per address (default settings)', () => {
  const ctx = ownServer({});

  it('30 concurrent handshakes with one token: at most 20 sockets are accepted', async () => {
    const alice = await c.register(ctx.url);

    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => c.connect(ctx.url, { token: alice.token, waitSession: false })),
    );

    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(accepted, 20, `${accepted} accepted`);
    for (const r of results.filter((x) => x.status === 'rejected')) assert.equal(r.reason.message, 'rate_limited');
    c.disconnectAll();
  });

  it('guest sockets from one address are capped at 64; the rest are refused rate_limited', async () => {
    await sleep(2000);
    const results = await Promise.allSettled(Array.from({ length: 80 }, () => c.connect(ctx.url, {})));

    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(accepted, 64);
    for (const r of results.filter((x) => x.status === 'rejected')) assert.equal(r.reason.message, 'rate_limited');
    c.disconnectAll();
  });
});

describe('per-socket budgets (default settings)', () => {
  const ctx = ownServer({});

  // 800, not 60,000: every ack must fit the socket's send buffer (1,024 packets), or the ones
  // that do not are dropped and the count below cannot be checked.
  it('a flood of 800 history events is mostly refused rate_limited and a bystander stays fast', async () => {
    const [alice, bob, carol] = await c.users(ctx.url, 3);
    const room = await c.directRoom(ctx.url, alice, bob);
    const socket = await c.connect(ctx.url, { token: alice.token });

    const flood = Promise.all(Array.from({ length: 800 }, () => c.emitAck(socket, 'history', { room_id: room.id }, 20000)));
    const started = Date.now();
    const me = await c.api(ctx.url, 'GET', '/api/me', carol.token);
    const latency = Date.now() - started;
    const acks = await flood;

    assert.equal(me.status, 200);
    assert.ok(latency < 2000, `bystander waited ${latency} ms`);
    const limited = acks.filter((a) => a.ok === false && a.error.code === 'rate_limited').length;
    const answered = acks.filter((a) => a.ok === true).length;
    assert.ok(answered <= 200, `${answered} history pages served`);
    assert.equal(limited + answered, 800);
  });

  it('presence:query for 500 users costs 21 tokens: ten at once exceed the burst of 100', async () => {
    await sleep(2500);
    const [alice, ...others] = await c.users(ctx.url, 2);
    const socket = await c.connect(ctx.url, { token: alice.token });
    const ids = Array.from({ length: 500 }, (_, i) => others[i % others.length].id);

    // Ten at once: 10 events, but 210 tokens against a burst of 100. What is checked is the
    // budget, not the latency: the answers get 20 s (CI runs four lanes on two cores).
    const acks = await Promise.all(Array.from({ length: 10 }, () => c.emitAck(socket, 'presence:query', { user_ids: ids }, 20000)));

    const ok = acks.filter((a) => a.ok === true).length;
    assert.ok(ok >= 1 && ok <= 6, `${ok} of 10 answered`);
    assert.ok(acks.every((a) => a.ok === true || a.error.code === 'rate_limited'), JSON.stringify(acks.find((a) => !a.ok)));
  });
});

describe('outbound bytes per socket (default settings)', () => {
  const ctx = ownServer({});

  // 60 rooms:list answers of ~370 KB each (30 groups, each with a last message of 4,096
  // three-byte characters) to a socket that never reads: 22 MB, far past what the kernel's
  // buffers take, yet only 60 packets, far under the 1,024-packet send buffer. The packet bound
  // alone kept all of it in memory; the byte bound (4 MiB) closes the connection.
  it('a socket that never reads is closed once 4 MiB of answers wait for it, not sent all 60', { timeout: 60000 }, async () => {
    const [alice] = await c.users(ctx.url, 1);
    const body = '€'.repeat(4096);
    for (let i = 0; i < 30; i++) {
      const room = await c.createRoom(ctx.url, alice, { name: `room ${i} ${'x'.repeat(80)}` });
      await c.postMessage(ctx.url, alice, room.id, body);
    }
    const before = rssMiB(ctx.server);
    const ws = await rawSocket(ctx.url);
    ws.send(`40${JSON.stringify({ token: alice.token })}`);
    await new Promise((resolve, reject) => {
      ws.on('message', function onConnect(data) {
        const text = String(data);
        if (text.startsWith('40')) { ws.off('message', onConnect); resolve(); }
        if (text.startsWith('44')) reject(new Error(`connect refused: ${text}`));
      });
    });
    const one = await c.connect(ctx.url, { token: alice.token });
    const size = Buffer.byteLength(JSON.stringify(await c.emitOk(one, 'rooms:list', {})));
    assert.ok(size > 300000, `one answer is ${size} bytes`);
    one.disconnect();

    let answers = 0;
    ws.on('message', (data) => { if (String(data).startsWith('43')) answers += 1; });
    ws.pause(); // stops reading: the server's writes back up
    for (let i = 0; i < 60; i++) ws.send(`42${i}["rooms:list",{}]`);
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(ctx.server)); }, 20);
    await sleep(4000);
    clearInterval(sampler);
    // The close is seen only by reading: what the kernel holds comes first, then the end.
    ws.resume();
    const closed = await closedWithin(ws, 15000);

    assert.equal(closed, true, `the connection of the socket that never read is still open (${answers} answers)`);
    assert.ok(answers < 30, `${answers} of 60 answers were kept for the socket that never read`);
    // Memory is not asserted here: the 60 answers of ~370 KB being built at once take more than
    // what waits to be sent (the audit's scenario, with ordinary answers, is measured by
    // soak/abuse-rss.js). It is printed for the record.
    console.log(`outbound bytes: peak RSS ${peak.toFixed(1)} MiB (${before.toFixed(1)} before)`);
  });
});

describe('writes that fan out system messages share the send rate', () => {
  const ctx = ownServer({ MISSIVE_SEND_RATE: '20' });

  it('100 renames at once: at most the send burst succeeds, the rest are rate_limited', async () => {
    const [alice, bob] = await c.users(ctx.url, 2);
    const room = await c.createRoom(ctx.url, alice, { kind: 'group', name: 'g', members: [bob.id] });

    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => c.api(ctx.url, 'PATCH', `/api/rooms/${room.id}`, alice.token, { name: `n${i}` })));
    const seconds = (Date.now() - started) / 1000;

    const ok = results.filter((r) => r.status === 200).length;
    // A burst of 40, plus what refills (20 a second) while the 100 requests are served.
    const allowed = 40 + Math.ceil(20 * seconds);
    assert.ok(ok >= 1 && ok <= allowed, `${ok} renames stored in ${seconds} s, at most ${allowed} allowed`);
    c.assertRestError(results.find((r) => r.status === 429), 429, 'rate_limited');
  });
});

describe('password hashing and the login throttle', () => {
  const ctx = ownServer({ MISSIVE_AUTH_RATE: '0' });

  it('a login flood is shed with 503 unavailable at once and a real login still gets through quickly', async () => {
    const alice = await c.register(ctx.url);
    const flood = Promise.all(Array.from({ length: 200 }, (_, i) => c.api(ctx.url, 'POST', '/api/auth/login', null, { username: `no such name ${i}!`, password: 'x'.repeat(20) })));
    await sleep(50);

    const started = Date.now();
    let res;
    for (;;) {
      res = await c.api(ctx.url, 'POST', '/api/auth/login', null, { username: alice.username, password: alice.password });
      if (res.status !== 503) break;
      await sleep(Number(res.headers.get('retry-after') || 1) * 100);
    }
    const waited = Date.now() - started;
    const results = await flood;

    assert.equal(res.status, 200);
    assert.ok(waited < 5000, `the real login took ${waited} ms`);
    const shed = results.filter((r) => r.status === 503);
    assert.ok(shed.length > 0, 'nothing shed');
    c.assertRestError(shed[0], 503, 'unavailable');
    assert.ok(shed[0].headers.get('retry-after'), 'no Retry-After');
  });

  it('300 logins cancelled by their clients leave the server under 100 MiB', async () => {
    await sleep(1000);
    const alice = await c.register(ctx.url);
    await Promise.all(Array.from({ length: 300 }, async () => {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 30);
      try {
        await fetch(`${ctx.url}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: alice.username, password: 'wrong-password' }),
          signal: abort.signal,
        });
      } catch (_) { /* aborted, as intended */ }
    }));
    await sleep(1500);

    const rss = rssMiB(ctx.server);
    assert.ok(rss < 100, `RSS ${rss.toFixed(1)} MiB`);
    const res = await c.api(ctx.url, 'POST', '/api/auth/login', null, { username: alice.username, password: alice.password });
    assert.equal(res.status, 200, 'the cancelled attempts locked the owner out');
  });

  it('a stranger\'s wrong passwords lock out the stranger\'s address, never the owner', async () => {
    const alice = await c.register(ctx.url);

    for (let i = 0; i < 10; i += 1) {
      const r = await postFrom(ctx.url, '/api/auth/login', { username: alice.username, password: 'guess' }, '127.0.0.2');
      assert.equal(r.status, 401);
    }
    const stranger = await postFrom(ctx.url, '/api/auth/login', { username: alice.username, password: alice.password }, '127.0.0.2');
    const owner = await postFrom(ctx.url, '/api/auth/login', { username: alice.username, password: alice.password }, '127.0.0.1');

    assert.equal(stranger.status, 429);
    assert.equal(owner.status, 200);
  });
});

describe('logins and registrations per address (default settings)', () => {
  const ctx = ownServer({});

  it('a burst of logins from one address past 30 is refused 429 with Retry-After, other addresses unaffected', async () => {
    const results = await Promise.all(Array.from({ length: 60 }, () => postFrom(ctx.url, '/api/auth/login', { username: 'bad name!', password: 'x' }, '127.0.0.3')));
    const other = await postFrom(ctx.url, '/api/auth/login', { username: 'nobody_here', password: 'whatever-pw' }, '127.0.0.4');

    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length >= 25, `${limited.length} limited`);
    assert.equal(limited[0].body.error.code, 'rate_limited');
    assert.ok(Number(limited[0].headers['retry-after']) >= 1);
    assert.equal(other.status, 401);
  });
});

describe('HTTP timeouts and connections per address', () => {
  const ctx = ownServer({ MISSIVE_HTTP_HEADER_TIMEOUT: '1s', MISSIVE_HTTP_REQUEST_TIMEOUT: '1s', MISSIVE_MAX_CONNS_PER_ADDR: '40' });

  it('silent and slow-header connections are closed by the header timeout, an endless body by the request timeout', async () => {
    const silent = await tcpConnect(ctx.url);
    const slow = await tcpConnect(ctx.url);
    slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const body = await tcpConnect(ctx.url);
    body.write('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{');

    const closed = await Promise.all([silent, slow, body].map((s) => tcpClosedWithin(s, 3000)));

    assert.deepEqual(closed, [true, true, true]);
  });

  it('connections past the per-address limit are closed on accept and the server keeps serving', async () => {
    const held = await Promise.all(Array.from({ length: 60 }, () => tcpConnect(ctx.url, '127.0.0.5')));
    await sleep(300);

    const open = held.filter((s) => !s.destroyed && !s.readableEnded).length;
    const health = await c.api(ctx.url, 'GET', '/healthz');
    for (const s of held) s.destroy();
    assert.equal(open, 40);
    assert.equal(health.status, 200);
  });
});

describe('REST error shape and input hygiene (default settings)', () => {
  const ctx = ownServer({});

  it('a NUL in a query string is 400 invalid', async () => {
    const alice = await c.register(ctx.url);

    const res = await c.api(ctx.url, 'GET', '/api/users?q=%00', alice.token);

    c.assertRestError(res, 400, 'invalid');
  });

  it('a method a path does not serve is 405 in the error shape', async () => {
    const res = await c.api(ctx.url, 'DELETE', '/api/auth/login');

    assert.equal(res.status, 405);
    assert.ok(res.body && res.body.error && typeof res.body.error.code === 'string', JSON.stringify(res.body));
  });

  it('a channel follower cannot list who read a message; the owner can', async () => {
    const [owner, follower] = await c.users(ctx.url, 2);
    const channel = await c.createRoom(ctx.url, owner, { kind: 'channel', name: 'news' });
    c.assertOk(await c.api(ctx.url, 'POST', `/api/rooms/${channel.id}/members`, follower.token, { user_id: follower.id }));
    const sent = c.assertOk(await c.api(ctx.url, 'POST', `/api/rooms/${channel.id}/messages`, owner.token, { body: 'hello' }));

    const asFollower = await c.api(ctx.url, 'GET', `/api/rooms/${channel.id}/messages/${sent.seq}/receipts`, follower.token);
    const asOwner = await c.api(ctx.url, 'GET', `/api/rooms/${channel.id}/messages/${sent.seq}/receipts`, owner.token);

    c.assertRestError(asFollower, 403, 'forbidden');
    assert.equal(asOwner.status, 200);
  });
});

describe('logs at RUST_LOG=debug', () => {
  const ctx = ownServer({ RUST_LOG: 'debug' });

  it('never contain an access token or a message body, and state the open file limit', async () => {
    const [alice, bob] = await c.users(ctx.url, 2);
    const room = await c.directRoom(ctx.url, alice, bob);
    const socket = await c.connect(ctx.url, { token: alice.token });
    const body = `secret-body-${Date.now()}`;
    await c.send(socket, { room_id: room.id, body });
    await c.api(ctx.url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: `${body}-rest` });
    await sleep(300);

    const logs = ctx.server.logs();
    assert.ok(logs.length > 1000, 'debug logging is on');
    assert.ok(!logs.includes(alice.token), 'an access token was logged');
    assert.ok(!logs.includes(body), 'a message body was logged');
    assert.match(logs, /open file limit/);
  });
});
