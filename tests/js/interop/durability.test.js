// The kill -9 durability check (issue 11): senders with unique client_ids post while the server
// is killed outright (SIGKILL: no shutdown, no flush) and restarted on the same database, several
// times; each sender then retries whatever it never heard back about. In the end every message
// is stored exactly once — lost = duplicated = unexpected = 0 — and the room's seqs run 1..N with
// no gap. On SQLite and on Postgres (MISSIVE_TEST_DB).
'use strict';

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const c = require('../lib/client');
const { startServer, testDb } = require('../lib/server');

const PG_BASE = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';
const ROUNDS = 3;
const SENDERS = 4;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 durability', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'missive-durability-'));
  const databaseUrl = testDb() === 'postgres'
    ? `${PG_BASE}/missive_dur_${crypto.randomBytes(5).toString('hex')}`
    : `sqlite://${path.join(dir, 'missive.db')}`;
  const env = {
    DATABASE_URL: databaseUrl,
    MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
    MISSIVE_ACCESS_TTL: '1h',
  };
  let server;
  after(async () => {
    c.disconnectAll();
    if (server) await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('messages posted across repeated SIGKILLs are stored exactly once with no seq gap', async (t) => {
    server = await startServer({ env });
    const [alice, bob] = await c.users(server.url, 2);
    const room = await c.directRoom(server.url, alice, bob);
    const acked = new Map(); // client_id -> seq
    const unsure = new Set(); // sent, answer never received
    let n = 0;

    for (let round = 0; round < ROUNDS; round += 1) {
      const url = server.url;
      let stop = false;
      const senders = Array.from({ length: SENDERS }, (_, s) => (async () => {
        const who = s % 2 === 0 ? alice : bob;
        while (!stop) {
          const clientId = `r${round}-s${s}-${n += 1}`;
          unsure.add(clientId);
          try {
            const res = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, who.token, { body: clientId, client_id: clientId });
            if (res.status !== 201 && res.status !== 200) break;
            acked.set(clientId, res.body.seq);
            unsure.delete(clientId);
          } catch (_) {
            break; // the server is gone
          }
        }
      })());
      await sleep(600 + Math.floor(Math.random() * 400));
      await server.kill('SIGKILL');
      stop = true;
      await Promise.all(senders);
      server = await startServer({ env, dropDatabase: round === ROUNDS - 1 });
    }
    const retried = unsure.size;
    // Retry every send whose answer was lost, with its client_id: stored once, whatever happened.
    for (const clientId of unsure) {
      const who = clientId.split('-')[1].slice(1) % 2 === 0 ? alice : bob;
      const res = await c.api(server.url, 'POST', `/api/rooms/${room.id}/messages`, who.token, { body: clientId, client_id: clientId });
      assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
      acked.set(clientId, res.body.seq);
    }

    const stored = [];
    let afterSeq = 0;
    for (;;) {
      const page = c.assertOk(await c.api(server.url, 'GET', `/api/rooms/${room.id}/messages?after_seq=${afterSeq}&limit=200`, alice.token));
      stored.push(...page.messages);
      if (!page.has_more || page.messages.length === 0) break;
      afterSeq = page.messages[page.messages.length - 1].seq;
    }
    const texts = stored.filter((m) => m.kind !== 'system');
    const byClient = new Map();
    for (const m of texts) byClient.set(m.client_id, (byClient.get(m.client_id) || 0) + 1);
    const lost = [...acked.keys()].filter((id) => !byClient.has(id));
    const duplicated = [...byClient.entries()].filter(([, k]) => k > 1);
    const unexpected = texts.filter((m) => !acked.has(m.client_id));
    const wrongSeq = [...acked.entries()].filter(([id, seq]) => texts.find((m) => m.client_id === id)?.seq !== seq);
    const seqs = stored.map((m) => m.seq);

    t.diagnostic(`${ROUNDS} kills; ${acked.size} messages, ${retried} retried after a kill; stored ${texts.length}, last seq ${seqs[seqs.length - 1]}`);
    assert.ok(acked.size >= ROUNDS * SENDERS, `only ${acked.size} messages sent`);
    assert.deepEqual({ lost: lost.length, duplicated: duplicated.length, unexpected: unexpected.length, wrongSeq: wrongSeq.length },
      { lost: 0, duplicated: 0, unexpected: 0, wrongSeq: 0 });
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'seqs run 1..N with no gap');
  });
});
