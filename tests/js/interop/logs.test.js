// Structured logs (MISSIVE_LOG_FORMAT=json): one JSON object a line; request and socket-event
// spans carry a request id and the user id; no token, password or message body is logged.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');
const { startServer } = require('../lib/server');

/** The JSON log lines printed so far (stdout's address line aside). */
function jsonLines(server) {
  return server.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

test('json logs carry the request id and user id of each request and socket event, and no secret or body', async (t) => {
  const server = await startServer({
    env: { MISSIVE_LOG_FORMAT: 'json', RUST_LOG: 'info,tower_http=debug,missive=debug,sqlx=warn' },
  });
  t.after(async () => { c.disconnectAll(); await server.stop(); });
  const [alice, bob] = await c.users(server.url, 2);
  const requestId = `req-${c.hex(6)}`;
  const me = await c.api(server.url, 'GET', '/api/me', alice.token, undefined, { 'x-request-id': requestId });
  assert.equal(me.status, 200);
  assert.equal(me.headers.get('x-request-id'), requestId, 'the request id is echoed');
  const generated = (await c.api(server.url, 'GET', '/api/me', alice.token)).headers.get('x-request-id');
  assert.match(generated || '', /^[0-9a-f-]{36}$/, 'a request without an id gets a UUID');

  const room = await c.directRoom(server.url, alice, bob);
  const body = `secret body ${c.hex(8)}`;
  const socket = await c.connect(server.url, { token: alice.token });
  await c.emitOk(socket, 'message:send', { room_id: room.id, body });
  await c.sleep(200); // the log lines are written asynchronously

  const lines = jsonLines(server);
  assert.ok(lines.length > 0, 'json lines were logged');
  for (const l of lines) {
    assert.ok(l.timestamp && l.level && l.fields, `a log object: ${JSON.stringify(l)}`);
  }
  const ofRequest = lines.filter((l) => l.span && l.span.request_id === requestId);
  assert.ok(ofRequest.length > 0, `a line in the request's span: ${server.logs().slice(-2000)}`);
  assert.ok(ofRequest.some((l) => String(l.span.user_id) === String(alice.id)), `the request's user: ${JSON.stringify(ofRequest)}`);
  const ofEvent = lines.filter((l) => l.span && l.span.name === 'socket_event' && l.span.event === 'message:send');
  assert.ok(ofEvent.length > 0, 'a line in the socket event\'s span');
  assert.equal(String(ofEvent[0].span.user_id), String(alice.id));
  assert.ok(ofEvent[0].span.socket_id, 'the socket id');

  const text = server.logs();
  for (const secret of [alice.password, alice.token, alice.refresh, body]) {
    assert.ok(!text.includes(secret), `the logs contain a secret or a body: ${secret.slice(0, 12)}…`);
  }
});
