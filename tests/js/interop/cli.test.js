// The operator's command line (`missive user …`, `backup`, `migrate`, `check`), run as a
// separate process against the database of a running server, as an operator would.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const c = require('../lib/client');
const { startServer, sharedDatabase, runCli, testDb, PG_BASE } = require('../lib/server');

/** A running server on a database the test's CLI runs can reach too. */
async function serverWithDatabase(t, extraEnv = {}) {
  const db = sharedDatabase('missive_cli');
  const env = { DATABASE_URL: db.url, MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'), ...extraEnv };
  const servers = [];
  t.after(async () => {
    c.disconnectAll();
    for (const s of servers.reverse()) await s.stop();
    db.drop();
  });
  const server = await startServer({ env });
  servers.push(server);
  const cli = (args, input) => runCli(args, { env, input });
  return { server, env, cli, servers };
}

function assertExit(res, code, what) {
  assert.equal(res.code, code, `${what}: exit ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
}

test('an account created on the command line logs in over REST and is listed', async (t) => {
  const { server, cli } = await serverWithDatabase(t);
  const username = c.randomUsername('op');
  const created = await cli(['user', 'create', username, '--display-name', 'First Operator'], 'correct horse battery\n');
  assertExit(created, 0, 'user create');
  assert.match(created.stdout, new RegExp(`created user ${username}`));
  const res = await c.api(server.url, 'POST', '/api/auth/login', null, { username, password: 'correct horse battery' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.user.display_name, 'First Operator');
  const list = await cli(['user', 'list']);
  assertExit(list, 0, 'user list');
  assert.match(list.stdout, new RegExp(`${username}\\s+active\\s+First Operator`));
  assert.ok(!list.stdout.includes('correct horse'), 'no password is printed');
});

test('a bad username, a short password, a taken name or an unknown user fails with a clear message', async (t) => {
  const { cli } = await serverWithDatabase(t);
  const short = await cli(['user', 'create', c.randomUsername()], 'short\n');
  assertExit(short, 1, 'short password');
  assert.match(short.stderr, /password must be 8 to 1024 characters/);
  const bad = await cli(['user', 'create', 'no spaces allowed'], 'long enough pw\n');
  assertExit(bad, 1, 'bad username');
  assert.match(bad.stderr, /^missive: .*username/m);
  const name = c.randomUsername();
  assertExit(await cli(['user', 'create', name], 'long enough pw\n'), 0, 'create');
  const taken = await cli(['user', 'create', name], 'long enough pw\n');
  assertExit(taken, 1, 'taken');
  assert.match(taken.stderr, /username is taken/);
  for (const cmd of ['ban', 'unban', 'reset-password']) {
    const res = await cli(['user', cmd, 'nobody_here'], 'long enough pw\n');
    assertExit(res, 1, `${cmd} of an unknown user`);
    assert.match(res.stderr, /there is no user nobody_here/);
  }
});

test('resetting a password logs the account out everywhere and only the new password works', async (t) => {
  const { server, cli } = await serverWithDatabase(t);
  const alice = await c.register(server.url);
  await c.sleep(5); // token times are in milliseconds: the reset must come after the issue
  assertExit(await cli(['user', 'reset-password', alice.username], 'the new password\n'), 0, 'reset-password');
  c.assertRestError(await c.api(server.url, 'GET', '/api/me', alice.token), 401, 'unauthenticated');
  c.assertRestError(await c.api(server.url, 'POST', '/api/auth/refresh', null, { refresh_token: alice.refresh }), 401, 'unauthenticated');
  c.assertRestError(await c.api(server.url, 'POST', '/api/auth/login', null, { username: alice.username, password: alice.password }), 401, 'invalid_credentials');
  const res = await c.api(server.url, 'POST', '/api/auth/login', null, { username: alice.username, password: 'the new password' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
});

test('a banned account cannot log in, refresh, use its tokens or connect, and unbanning lets it log in again', async (t) => {
  const { server, cli } = await serverWithDatabase(t);
  const mallory = await c.register(server.url);
  await c.sleep(5);
  const banned = await cli(['user', 'ban', mallory.username]);
  assertExit(banned, 0, 'ban');
  const login = { username: mallory.username, password: mallory.password };
  c.assertRestError(await c.api(server.url, 'POST', '/api/auth/login', null, login), 403, 'forbidden');
  c.assertRestError(await c.api(server.url, 'GET', '/api/me', mallory.token), 401, 'unauthenticated');
  c.assertRestError(await c.api(server.url, 'POST', '/api/auth/refresh', null, { refresh_token: mallory.refresh }), 401, 'unauthenticated');
  const err = await c.connectError(server.url, { token: mallory.token });
  assert.equal(err.message, 'unauthenticated');
  // A wrong password still says nothing about the ban.
  c.assertRestError(await c.api(server.url, 'POST', '/api/auth/login', null, { ...login, password: 'wrong password' }), 401, 'invalid_credentials');
  assert.match((await cli(['user', 'list'])).stdout, new RegExp(`${mallory.username}\\s+banned`));

  assertExit(await cli(['user', 'unban', mallory.username]), 0, 'unban');
  const again = await c.api(server.url, 'POST', '/api/auth/login', null, login);
  assert.equal(again.status, 200, JSON.stringify(again.body));
});

/** Sends from one socket until `stop()`, keeping 4 sends in flight; `acked` grows in ack order. */
function pumpMessages(socket, roomId) {
  const acked = [];
  let running = true;
  async function lane(n) {
    for (let i = 0; running; i++) {
      const ack = await socket.timeout(10000).emitWithAck('message:send', { room_id: roomId, body: `b ${n}/${i}`, client_id: `bk-${n}-${i}` });
      assert.ok(ack && ack.ok, JSON.stringify(ack));
      acked.push(ack.message);
    }
  }
  const done = Promise.all([0, 1, 2, 3].map(lane));
  return { acked, stop: async () => { running = false; await done; } };
}

/** Every message of a room as another server serves it, by paging history. */
async function allMessages(url, token, roomId) {
  const out = [];
  let after = 0;
  for (;;) {
    const res = await c.api(url, 'GET', `/api/rooms/${roomId}/messages?after_seq=${after}&limit=200`, token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...res.body.messages);
    if (!res.body.has_more) return out;
    after = res.body.messages[res.body.messages.length - 1].seq;
  }
}

test('a backup taken under load restores into a server that serves every message acked before it', async (t) => {
  const { server, env, cli, servers } = await serverWithDatabase(t);
  const [alice, bob] = await c.users(server.url, 2);
  const room = await c.directRoom(server.url, alice, bob);
  const socket = await c.connect(server.url, { token: alice.token });
  const load = pumpMessages(socket, room.id);
  while (load.acked.length < 200) await c.sleep(5);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'missive-backup-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ackedBefore = load.acked.slice();
  let restoredUrl;
  if (testDb() === 'sqlite') {
    const file = path.join(dir, 'backup.db');
    const res = await cli(['backup', file]);
    assertExit(res, 0, 'backup');
    restoredUrl = `sqlite://${file}`;
  } else {
    // `missive backup` points a Postgres operator at pg_dump; the README's line is what runs.
    const res = await cli(['backup', path.join(dir, 'never.db')]);
    assertExit(res, 1, 'backup on Postgres');
    assert.match(res.stderr, /pg_dump --format=custom --file=FILE "\$DATABASE_URL"/);
    const file = path.join(dir, 'backup.dump');
    execFileSync('pg_dump', ['--format=custom', `--file=${file}`, env.DATABASE_URL]);
    const name = `missive_restored_${c.hex(5)}`;
    execFileSync('psql', [`${PG_BASE}/postgres`, '-qc', `create database ${name}`]);
    t.after(() => execFileSync('psql', [`${PG_BASE}/postgres`, '-qc', `drop database if exists ${name} with (force)`]));
    execFileSync('pg_restore', ['--no-owner', `--dbname=${PG_BASE}/${name}`, file]);
    restoredUrl = `${PG_BASE}/${name}`;
  }
  const moreDuringBackup = load.acked.length - ackedBefore.length;
  await load.stop();
  t.diagnostic(`${ackedBefore.length} acked before the backup, ${moreDuringBackup} while it ran`);

  const restored = await startServer({ env: { ...env, DATABASE_URL: restoredUrl } });
  servers.push(restored);
  const session = await c.login(restored.url, alice);
  const messages = await allMessages(restored.url, session.access_token, room.id);
  const ids = new Set(messages.map((m) => m.id));
  const lost = ackedBefore.filter((m) => !ids.has(m.id));
  assert.deepEqual(lost, [], `${lost.length} of ${ackedBefore.length} acked messages are not in the backup`);
  // A consistent snapshot: the room's seqs are 1..n without a hole.
  messages.forEach((m, i) => assert.equal(m.seq, i + 1, 'the backup is one consistent snapshot'));
  // And the restored server takes new messages after them.
  const next = await c.postMessage(restored.url, { token: session.access_token }, room.id, 'after restore');
  assert.equal(next.seq, messages.length + 1);
});

test('migrate creates and migrates a database, after which check passes', async (t) => {
  const db = sharedDatabase('missive_migrate');
  t.after(() => db.drop());
  const env = { DATABASE_URL: db.url, MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex') };
  const before = await runCli(['check'], { env });
  assertExit(before, 1, 'check before migrate');
  assert.match(before.stderr, /there is no database at .*missive migrate/);
  const migrated = await runCli(['migrate'], { env });
  assertExit(migrated, 0, 'migrate');
  assert.match(migrated.stdout, /is at migration \d+/);
  const check = await runCli(['check'], { env });
  assertExit(check, 0, 'check');
  assert.match(check.stdout, /^ok: configuration valid; (SQLite|Postgres) database .* reachable/m);
  assert.ok(!/pending migration/.test(check.stdout), check.stdout);
});

test('check fails with a clear message for an unreachable database or a bad setting, and never prints a password', async () => {
  const secret = crypto.randomBytes(32).toString('hex');
  const cases = [
    [{ DATABASE_URL: 'postgres://app:hunter2-secret@127.0.0.1:1/missive', MISSIVE_JWT_SECRET: secret }, /cannot reach the database at postgres:\/\/app@127\.0\.0\.1:1\/missive/],
    [{ DATABASE_URL: 'mysql://localhost/x', MISSIVE_JWT_SECRET: secret }, /DATABASE_URL must start with sqlite:\/\/ or postgres:\/\//],
    [{ DATABASE_URL: `sqlite://${os.tmpdir()}/x.db`, MISSIVE_JWT_SECRET: 'too short' }, /MISSIVE_JWT_SECRET must be at least 32 bytes/],
    [{ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', MISSIVE_JWT_SECRET: null }, /MISSIVE_JWT_SECRET is required with Postgres/],
    [{ DATABASE_URL: `sqlite://${os.tmpdir()}/x.db`, MISSIVE_JWT_SECRET: secret, MISSIVE_ADDR: 'not an address' }, /MISSIVE_ADDR: not an address is not a host:port/],
  ];
  for (const [env, message] of cases) {
    const res = await runCli(['check'], { env });
    assertExit(res, 1, `check with ${JSON.stringify(env)}`);
    assert.match(res.stderr, message);
    assert.ok(!res.stderr.includes('hunter2') && !res.stdout.includes('hunter2'), 'the password is not printed');
  }
});
