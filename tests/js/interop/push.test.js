// docs/protocol.md "Notifications": pushers (Web Push and gateways), the notifier (no
// connected device, after MISSIVE_PUSH_DELAY, coalesced per room, driven from the stream with
// its own cursor), mutes, privacy levels and pusher URL checks. The push service and the
// gateway are real HTTP servers of this test (lib/pushservice.js): the VAPID JWT is verified
// and every Web Push payload is decrypted with the subscription's private key.
'use strict';

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');
const c = require('../lib/client');
const { startServer, testDb } = require('../lib/server');
const { newSubscription, startPushService } = require('../lib/pushservice');

const DELAY_MS = 300;
const TIMEOUT_MS = 1000;
const PUSH_ENV = { MISSIVE_PUSH_DELAY: `${DELAY_MS}ms`, MISSIVE_PUSH_ALLOW_PRIVATE: 'true', MISSIVE_PUSH_TIMEOUT: `${TIMEOUT_MS}ms` };
/** Long enough for a due notification to have been sent. */
const SETTLE_MS = DELAY_MS + 1500;

let url;
let svc;
let vapidKey;
c.useServer({ env: PUSH_ENV }, (s) => {
  url = s.url;
});

// The shared push service starts with the first test that needs it (after the server).
async function ready() {
  if (!svc) {
    const res = await c.api(url, 'GET', '/api/push/vapid-key');
    vapidKey = c.assertOk(res, 200).public_key;
    svc = await startPushService(() => vapidKey);
  }
}
after(async () => {
  if (svc) await svc.close();
});

/** Registers a Web Push subscription at `/wp/<random>` of the fake push service. */
async function webPusher(serverUrl, user, service) {
  await ready();
  service = service || svc;
  const sub = newSubscription(`${service.base}/wp/${c.hex()}`);
  sub.path = new URL(sub.endpoint).pathname;
  const res = await c.api(serverUrl, 'POST', '/api/pushers', user.token, { kind: 'webpush', endpoint: sub.endpoint, keys: sub.keys });
  sub.pusher = c.assertOk(res, 201);
  return sub;
}

async function gatewayPusher(serverUrl, user, service) {
  await ready();
  service = service || svc;
  const p = { path: `/gateway/${c.hex()}`, pushkey: `fcm-token-${c.hex()}` };
  const res = await c.api(serverUrl, 'POST', '/api/pushers', user.token, {
    kind: 'gateway', url: service.base + p.path, pushkey: p.pushkey, app_id: 'im.missive.android',
  });
  p.pusher = c.assertOk(res, 201);
  return p;
}

/** Waits until `n` requests reached `path`; returns them. */
async function requests(pathName, n = 1, timeoutMs = 8000, service) {
  service = service || svc;
  const deadline = Date.now() + timeoutMs;
  while (service.at(pathName).length < n) {
    if (Date.now() > deadline) {
      assert.fail(`expected ${n} request(s) at ${pathName}, got ${service.at(pathName).length}`);
    }
    await c.sleep(25);
  }
  service.check();
  return service.at(pathName);
}

describe('pushers over REST', () => {
  it('serves the public VAPID key as an uncompressed P-256 point in base64url', async () => {
    await ready();
    assert.equal(Buffer.from(vapidKey, 'base64url').length, 65);
    assert.equal(Buffer.from(vapidKey, 'base64url')[0], 4);
  });

  it('adds, lists and removes a device\'s pushers; malformed ones are invalid', async () => {
    const [bob] = await c.users(url, 1);
    const sub = await webPusher(url, bob);
    const gw = await gatewayPusher(url, bob);
    c.assertFields(sub.pusher, { kind: 'webpush', url: sub.endpoint });
    c.assertFields(gw.pusher, { kind: 'gateway', pushkey: gw.pushkey, app_id: 'im.missive.android' });
    assert.equal(sub.pusher.keys, undefined, 'subscription secrets are not echoed');

    const list = c.assertOk(await c.api(url, 'GET', '/api/pushers', bob.token), 200).pushers;
    assert.deepEqual(list.map((p) => p.id).sort(), [sub.pusher.id, gw.pusher.id].sort());

    const bad = [
      { kind: 'sms', url: `${svc.base}/x` },
      { kind: 'webpush', endpoint: `${svc.base}/x` },
      { kind: 'webpush', endpoint: `${svc.base}/x`, keys: { p256dh: 'AAAA', auth: sub.keys.auth } },
      { kind: 'webpush', endpoint: `${svc.base}/x`, keys: { p256dh: sub.keys.p256dh, auth: 'AAAA' } },
      { kind: 'webpush', endpoint: 'not a url', keys: sub.keys },
      { kind: 'gateway', url: `${svc.base}/g` },
      { kind: 'gateway', url: 'ftp://example.com/g', pushkey: 'k' },
    ];
    for (const body of bad) {
      c.assertRestError(await c.api(url, 'POST', '/api/pushers', bob.token, body), 400, 'invalid');
    }
    c.assertRestError(await c.api(url, 'POST', '/api/pushers', null, { kind: 'gateway' }), 401, 'unauthenticated');

    const [eve] = await c.users(url, 1);
    c.assertRestError(await c.api(url, 'DELETE', `/api/pushers/${sub.pusher.id}`, eve.token), 404, 'not_found');
    c.assertOk(await c.api(url, 'DELETE', `/api/pushers/${sub.pusher.id}`, bob.token), 204);
    const after = c.assertOk(await c.api(url, 'GET', '/api/pushers', bob.token), 200).pushers;
    assert.deepEqual(after.map((p) => p.id), [gw.pusher.id]);
  });

  it('a login\'s pushers go when it logs out; other logins keep theirs', async () => {
    const [bob] = await c.users(url, 1);
    const phone = await c.login(url, bob);
    await webPusher(url, bob); // the first login's
    await webPusher(url, { token: phone.access_token });
    assert.equal(c.assertOk(await c.api(url, 'GET', '/api/pushers', bob.token), 200).pushers.length, 2);

    c.assertOk(await c.api(url, 'POST', '/api/auth/logout', null, { refresh_token: phone.refresh_token }), 204);

    const left = c.assertOk(await c.api(url, 'GET', '/api/pushers', bob.token), 200).pushers;
    assert.equal(left.length, 1, 'only the logged-out login\'s pusher is gone');
    c.assertOk(await c.api(url, 'POST', '/api/auth/logout-all', bob.token), 204);
    const again = await c.login(url, bob);
    assert.equal(c.assertOk(await c.api(url, 'GET', '/api/pushers', again.access_token), 200).pushers.length, 0);
  });
});

describe('notifications', () => {
  it('an offline recipient gets one encrypted Web Push and one gateway push with sender, text and unread count', async () => {
    const [alice, bob] = await c.users(url, 2, { display_name: 'Alice A' });
    const room = await c.directRoom(url, alice, bob);
    const sub = await webPusher(url, bob);
    const gw = await gatewayPusher(url, bob);
    const sentAt = Date.now();

    const m = await c.postMessage(url, alice, room.id, 'lunch at noon?');

    const [push] = await requests(sub.path);
    assert.ok(push.at - sentAt >= DELAY_MS - 50, `waited the push delay (${push.at - sentAt} ms)`);
    const n = sub.decrypt(push.body);
    c.assertFields(n, { room_id: room.id, seq: m.seq, unread: 1, sender_id: alice.id, sender_name: 'Alice A', body: 'lunch at noon?' });
    const [g] = await requests(gw.path);
    const gn = JSON.parse(g.body).notification;
    c.assertFields(gn, { room_id: room.id, seq: m.seq, sender_id: alice.id, body: 'lunch at noon?' });
    assert.deepEqual(gn.counts, { unread: 1 });
    assert.deepEqual(gn.devices, [{ pushkey: gw.pushkey, app_id: 'im.missive.android' }]);
    await c.sleep(DELAY_MS * 2);
    assert.equal(svc.at(sub.path).length, 1, 'exactly one push');
    assert.equal(svc.at(gw.path).length, 1, 'exactly one gateway call');
  });

  it('a recipient with a connected device gets no push, while an offline one in the same room does', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    const bobSub = await webPusher(url, bob);
    const carolSub = await webPusher(url, carol);
    const aliceSub = await webPusher(url, alice);
    const bobSocket = await c.connect(url, { token: bob.token });
    await c.waitFor(bobSocket, 'synced');

    const m = await c.postMessage(url, alice, group.id, 'hi both');

    await c.waitFor(bobSocket, 'message', (x) => x.seq === m.seq);
    const [carolPush] = await requests(carolSub.path);
    assert.equal(carolSub.decrypt(carolPush.body).seq, m.seq);
    await c.sleep(DELAY_MS);
    assert.equal(svc.at(bobSub.path).length, 0, 'the connected recipient got no push');
    assert.equal(svc.at(aliceSub.path).length, 0, 'the sender is never notified of their own message');
  });

  it('a muted room sends no push but still counts unread; the mute reaches the person\'s other devices', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    const bobSub = await webPusher(url, bob);
    const carolSub = await webPusher(url, carol);
    const bobTablet = await c.connect(url, { token: bob.token });
    await c.waitFor(bobTablet, 'synced');

    const mute = c.assertOk(await c.api(url, 'PUT', `/api/rooms/${group.id}/mute`, bob.token, { until: null }), 200);
    assert.deepEqual(mute, { room_id: group.id, until: null });
    assert.deepEqual(await c.waitFor(bobTablet, 'room:muted'), { room_id: group.id, until: null });
    const mutes = c.assertOk(await c.api(url, 'GET', '/api/me/mutes', bob.token), 200).mutes;
    assert.deepEqual(mutes, [{ room_id: group.id, until: null }]);
    bobTablet.close();
    await c.sleep(100);

    await c.postMessage(url, alice, group.id, 'one');
    const m2 = await c.postMessage(url, alice, group.id, 'two');

    const [carolPush] = await requests(carolSub.path);
    assert.equal(carolSub.decrypt(carolPush.body).seq, m2.seq);
    await c.sleep(DELAY_MS);
    assert.equal(svc.at(bobSub.path).length, 0, 'the muted room sent Bob nothing');
    assert.equal((await c.myRoom(url, bob, group.id)).unread_count, 2, 'muted rooms still count unread');

    // Unmuted, the next message notifies again, with the unread count of all three.
    c.assertOk(await c.api(url, 'DELETE', `/api/rooms/${group.id}/mute`, bob.token), 204);
    const m3 = await c.postMessage(url, alice, group.id, 'three');
    const [bobPush] = await requests(bobSub.path);
    c.assertFields(bobSub.decrypt(bobPush.body), { seq: m3.seq, unread: 3 });
  });

  it('mutes are checked: a past time is invalid, a room the caller is not in is not found, a timed mute expires', async () => {
    const [alice, bob, eve] = await c.users(url, 3);
    const room = await c.directRoom(url, alice, bob);
    c.assertRestError(await c.api(url, 'PUT', `/api/rooms/${room.id}/mute`, bob.token, { until: Date.now() - 1000 }), 400, 'invalid');
    c.assertRestError(await c.api(url, 'PUT', `/api/rooms/${room.id}/mute`, eve.token, {}), 404, 'not_found');
    c.assertRestError(await c.api(url, 'PUT', `/api/rooms/${room.id}/mute`, bob.token, { until: 'soon' }), 400, 'invalid');
    const bobSub = await webPusher(url, bob);
    c.assertOk(await c.api(url, 'PUT', `/api/rooms/${room.id}/mute`, bob.token, { until: Date.now() + 400 }), 200);
    await c.sleep(500);
    assert.deepEqual(c.assertOk(await c.api(url, 'GET', '/api/me/mutes', bob.token), 200).mutes, [], 'an expired mute is not listed');
    const m = await c.postMessage(url, alice, room.id, 'after the mute');
    const [push] = await requests(bobSub.path);
    assert.equal(bobSub.decrypt(push.body).seq, m.seq, 'an expired mute no longer silences');
  });

  it('a burst of 50 messages gives one coalesced notification per pusher', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const sub = await webPusher(url, bob);
    const sub2 = await webPusher(url, bob);
    const gw = await gatewayPusher(url, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });

    const sent = await c.sendMany(aliceSocket, room.id, 50);
    const last = Math.max(...sent.map((m) => m.seq));

    const [push] = await requests(sub.path);
    const [push2] = await requests(sub2.path);
    const [g] = await requests(gw.path);
    await c.sleep(SETTLE_MS);
    assert.equal(svc.at(sub.path).length, 1, 'one push for the burst');
    assert.equal(svc.at(sub2.path).length, 1, 'one push on the other pusher');
    assert.equal(svc.at(gw.path).length, 1, 'one gateway call');
    c.assertFields(sub.decrypt(push.body), { seq: last, unread: 50 });
    c.assertFields(sub2.decrypt(push2.body), { seq: last, unread: 50 });
    assert.deepEqual(JSON.parse(g.body).notification.counts, { unread: 50 });
  });

  it('a 410 from the push service removes the pusher; a 503 is retried', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const gone = await webPusher(url, bob);
    const flaky = await webPusher(url, bob);
    svc.statuses[gone.path] = [410];
    svc.statuses[flaky.path] = [503];

    const m = await c.postMessage(url, alice, room.id, 'are you there?');

    const flakyReqs = await requests(flaky.path, 2);
    assert.ok(flakyReqs[1].at - flakyReqs[0].at >= 250, 'retried after a backoff');
    assert.equal(flaky.decrypt(flakyReqs[1].body).seq, m.seq);
    await requests(gone.path, 1);
    const left = c.assertOk(await c.api(url, 'GET', '/api/pushers', bob.token), 200).pushers;
    assert.deepEqual(left.map((p) => p.id), [flaky.pusher.id], 'the gone subscription was removed');
    await c.postMessage(url, alice, room.id, 'again');
    await requests(flaky.path, 3);
    assert.equal(svc.at(gone.path).length, 1, 'a removed pusher is never called again');
  });
});

describe('gateways', () => {
  it('a gateway that rejects the device\'s pushkey gets the pusher removed', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const kept = await gatewayPusher(url, bob);
    const refused = await gatewayPusher(url, bob);
    svc.rejects.add(refused.path);

    await c.postMessage(url, alice, room.id, 'ping');

    await requests(kept.path);
    await requests(refused.path);
    // The pusher is removed right after the gateway's answer: poll briefly for it.
    let left;
    for (const deadline = Date.now() + 3000; Date.now() < deadline; await c.sleep(50)) {
      left = c.assertOk(await c.api(url, 'GET', '/api/pushers', bob.token), 200).pushers;
      if (left.length === 1) break;
    }
    assert.deepEqual(left.map((p) => p.id), [kept.pusher.id]);
  });
});

describe('outbound requests', () => {
  it('a push service that never answers is timed out and the push retried', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const sub = await webPusher(url, bob);
    svc.statuses[sub.path] = ['hang'];

    const m = await c.postMessage(url, alice, room.id, 'still there?');

    const reqs = await requests(sub.path, 2, 8000);
    const gap = reqs[1].at - reqs[0].at;
    assert.ok(gap >= TIMEOUT_MS, `the second attempt came after the timeout (${gap} ms)`);
    assert.equal(sub.decrypt(reqs[1].body).seq, m.seq);
  });
});

describe('restart', () => {
  it('a server killed in the middle neither loses nor repeats pending notifications', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'missive-push-'));
    const pgName = `missive_push_${c.hex()}`;
    const databaseUrl = testDb() === 'postgres'
      ? `${process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432'}/${pgName}`
      : `sqlite://${path.join(dir, 'm.db')}`;
    const env = { ...PUSH_ENV, MISSIVE_PUSH_DELAY: '1s', DATABASE_URL: databaseUrl, MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex') };
    let first = await startServer({ env });
    let second;
    t.after(async () => {
      await first.stop();
      if (second) await second.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const key = c.assertOk(await c.api(first.url, 'GET', '/api/push/vapid-key'), 200).public_key;
    const own = await startPushService(() => key);
    t.after(() => own.close());
    const [alice, bob] = await c.users(first.url, 2);
    const r1 = await c.directRoom(first.url, alice, bob);
    const [carol] = await c.users(first.url, 1);
    const r2 = await c.directRoom(first.url, alice, carol);
    const bobSub = await webPusher(first.url, bob, own);
    const carolSub = await webPusher(first.url, carol, own);

    // Bob's notification goes out before the kill; Carol's is pending when it comes.
    await c.postMessage(first.url, alice, r1.id, 'before');
    await requests(bobSub.path, 1, 8000, own);
    const m2 = await c.postMessage(first.url, alice, r2.id, 'pending at the kill');
    await c.sleep(300);
    await first.kill('SIGKILL');
    assert.equal(own.at(carolSub.path).length, 0, 'killed before Carol\'s notification was due');

    second = await startServer({ env: { ...env }, dropDatabase: true });
    assert.equal(c.assertOk(await c.api(second.url, 'GET', '/api/push/vapid-key'), 200).public_key, key, 'the VAPID key is kept');
    const [push] = await requests(carolSub.path, 1, 10000, own);
    assert.equal(carolSub.decrypt(push.body).seq, m2.seq, 'not lost');
    await c.sleep(1500);
    assert.equal(own.at(carolSub.path).length, 1, 'Carol\'s is sent once');
    assert.equal(own.at(bobSub.path).length, 1, 'Bob\'s is not repeated');
  });
});

describe('privacy and addresses', () => {
  it('MISSIVE_PUSH_CONTENT=none says only that something arrived; =sender only who wrote', async (t) => {
    for (const level of ['none', 'sender']) {
      const s = await startServer({ env: { ...PUSH_ENV, MISSIVE_PUSH_CONTENT: level } });
      t.after(() => s.stop());
      const key = c.assertOk(await c.api(s.url, 'GET', '/api/push/vapid-key'), 200).public_key;
      const own = await startPushService(() => key);
      t.after(() => own.close());
      const [alice, bob] = await c.users(s.url, 2);
      const room = await c.directRoom(s.url, alice, bob);
      const sub = await webPusher(s.url, bob, own);
      const gw = await gatewayPusher(s.url, bob, own);
      const m = await c.postMessage(s.url, alice, room.id, 'a secret text');
      const [push] = await requests(sub.path, 1, 8000, own);
      const [g] = await requests(gw.path, 1, 8000, own);
      const n = sub.decrypt(push.body);
      assert.equal(n.body, undefined, `${level}: no text`);
      assert.ok(!g.body.toString().includes('secret'), `${level}: no text at the gateway`);
      c.assertFields(n, { room_id: room.id, seq: m.seq, unread: 1 });
      if (level === 'none') {
        assert.equal(n.sender_id, undefined);
        assert.equal(n.sender_name, undefined);
      } else {
        assert.equal(n.sender_id, alice.id);
      }
    }
  });

  it('without MISSIVE_PUSH_ALLOW_PRIVATE, loopback, private and plain-http pusher URLs are refused', async (t) => {
    const s = await startServer({});
    t.after(() => s.stop());
    const [bob] = await c.users(s.url, 1);
    const sub = newSubscription('https://push.example.com/x');
    for (const endpoint of [
      'http://push.example.com/x',
      'https://127.0.0.1/x',
      'https://localhost:8443/x',
      'https://10.0.0.7/x',
      'https://169.254.169.254/latest',
      'https://[::1]/x',
    ]) {
      const res = await c.api(s.url, 'POST', '/api/pushers', bob.token, { kind: 'webpush', endpoint, keys: sub.keys });
      c.assertRestError(res, 400, 'invalid');
    }
    const gw = await c.api(s.url, 'POST', '/api/pushers', bob.token, { kind: 'gateway', url: 'https://192.168.1.10/push', pushkey: 'k' });
    c.assertRestError(gw, 400, 'invalid');
    c.assertOk(await c.api(s.url, 'POST', '/api/pushers', bob.token, { kind: 'webpush', endpoint: sub.endpoint, keys: sub.keys }), 201);
  });
});

describe('two nodes on one Postgres database', { skip: testDb() !== 'postgres' && 'the cluster is Postgres' }, () => {
  it('share one VAPID key, notify once between them, and see a socket connected to the other node', async (t) => {
    const base = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';
    const env = {
      ...PUSH_ENV,
      DATABASE_URL: `${base}/missive_push_cluster_${c.hex()}`,
      MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
    };
    const nodeA = await startServer({ env, dropDatabase: true });
    t.after(() => nodeA.stop());
    const nodeB = await startServer({ env });
    t.after(() => nodeB.stop());
    const keyA = c.assertOk(await c.api(nodeA.url, 'GET', '/api/push/vapid-key'), 200).public_key;
    const keyB = c.assertOk(await c.api(nodeB.url, 'GET', '/api/push/vapid-key'), 200).public_key;
    assert.equal(keyA, keyB, 'every node signs with the same VAPID key');
    const own = await startPushService(() => keyA);
    t.after(() => own.close());

    const [alice, bob, carol] = await c.users(nodeA.url, 3);
    const group = await c.createRoom(nodeA.url, alice, { members: [bob, carol] });
    const bobSub = await webPusher(nodeA.url, bob, own);
    const carolSub = await webPusher(nodeB.url, carol, own);

    // Sent on both nodes: each offline recipient gets exactly one push per message.
    const m1 = await c.postMessage(nodeA.url, alice, group.id, 'from A');
    const [p1] = await requests(bobSub.path, 1, 8000, own);
    assert.equal(bobSub.decrypt(p1.body).seq, m1.seq);
    const m2 = await c.postMessage(nodeB.url, alice, group.id, 'from B');
    await requests(bobSub.path, 2, 8000, own);
    await requests(carolSub.path, 2, 8000, own);
    await c.sleep(SETTLE_MS);
    assert.equal(own.at(bobSub.path).length, 2, 'one push per message, not one per node');
    assert.equal(own.at(carolSub.path).length, 2);
    assert.equal(bobSub.decrypt(own.at(bobSub.path)[1].body).seq, m2.seq);

    // Bob connects to node B only; whichever node notifies sees him connected.
    const bobOnB = await c.connect(nodeB.url, { token: bob.token });
    await c.waitFor(bobOnB, 'synced');
    const m3 = await c.postMessage(nodeA.url, alice, group.id, 'Bob is on B');
    await requests(carolSub.path, 3, 8000, own);
    await c.sleep(DELAY_MS);
    assert.equal(carolSub.decrypt(own.at(carolSub.path)[2].body).seq, m3.seq);
    assert.equal(own.at(bobSub.path).length, 2, 'no push while Bob is connected to the other node');
  });
});
