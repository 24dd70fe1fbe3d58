// docs/protocol.md §13: group invite links and join requests, the channel directory, reports,
// and what operators do about them (ban, delete any message, the audit log).
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

const OPERATOR = c.randomUsername('op');
let url;
c.useServer({ env: { MISSIVE_ADMINS: OPERATOR } }, (s) => {
  url = s.url;
});

let operator;
async function op() {
  if (!operator) operator = await c.register(url, { username: OPERATOR });
  return operator;
}

describe('invite links', () => {
  it('an admin creates a link; anyone holding it joins the group, over REST or a socket; members cannot make links', async () => {
    const [owner, member, joiner, other] = await c.users(url, 4);
    const group = await c.createRoom(url, owner, { members: [member] });
    const ownerSocket = await c.connect(url, { token: owner.token });

    const { invite } = await c.emitOk(ownerSocket, 'invite:create', { room_id: group.id });
    const preview = c.assertOk(await c.api(url, 'GET', `/api/invites/${invite.token}`, joiner.token), 200);
    const joined = c.assertOk(await c.api(url, 'POST', `/api/invites/${invite.token}/join`, joiner.token), 200);
    const otherSocket = await c.connect(url, { token: other.token });
    const viaSocket = await c.emitOk(otherSocket, 'invite:join', { token: invite.token });

    assert.ok(invite.token.length >= 40, 'unguessable');
    c.assertFields(preview, { room_id: group.id, name: group.name, members_count: 2, approval: false });
    c.assertFields(joined.room, { id: group.id, my_role: 'member', members_count: 3 });
    assert.equal(viaSocket.room.id, group.id);
    const system = await c.waitFor(ownerSocket, 'message', (m) => m.kind === 'system' && JSON.parse(m.body).user_id === joiner.id);
    assert.equal(JSON.parse(system.body).event, 'member_joined');
    c.assertRestError(await c.api(url, 'POST', `/api/invites/${invite.token}/join`, joiner.token), 409, 'conflict');
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${group.id}/invites`, member.token, {}), 403, 'forbidden');
    const listed = c.assertOk(await c.api(url, 'GET', `/api/rooms/${group.id}/invites`, owner.token), 200);
    assert.deepEqual(listed.map((i) => [i.token, i.uses]), [[invite.token, 2]]);
  });

  it('a revoked, expired or used-up link is not_found, like one that never existed', async () => {
    const [owner, a, b, cc] = await c.users(url, 4);
    const group = await c.createRoom(url, owner);
    const make = async (body) => c.assertOk(await c.api(url, 'POST', `/api/rooms/${group.id}/invites`, owner.token, body), 201);
    const revoked = await make({});
    const once = await make({ max_uses: 1 });
    const brief = await make({ expires_in: 1 });

    c.assertOk(await c.api(url, 'DELETE', `/api/invites/${revoked.token}`, owner.token), 204);
    c.assertOk(await c.api(url, 'POST', `/api/invites/${once.token}/join`, a.token), 200);
    await c.sleep(1100);

    c.assertRestError(await c.api(url, 'POST', `/api/invites/${revoked.token}/join`, b.token), 404, 'not_found');
    c.assertRestError(await c.api(url, 'GET', `/api/invites/${revoked.token}`, b.token), 404, 'not_found');
    c.assertRestError(await c.api(url, 'POST', `/api/invites/${once.token}/join`, b.token), 404, 'not_found');
    c.assertRestError(await c.api(url, 'POST', `/api/invites/${brief.token}/join`, cc.token), 404, 'not_found');
    c.assertRestError(await c.api(url, 'POST', '/api/invites/not-a-token/join', cc.token), 404, 'not_found');
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${group.id}/invites`, owner.token, { expires_in: 0 }), 400, 'invalid');
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${channel.id}/invites`, owner.token, {}), 403, 'forbidden');
  });

  it('a link with approval makes a join request that an admin approves or denies', async () => {
    const [owner, asker, denied] = await c.users(url, 3);
    const group = await c.createRoom(url, owner);
    const link = c.assertOk(await c.api(url, 'POST', `/api/rooms/${group.id}/invites`, owner.token, { approval: true }), 201);

    const pending = await c.api(url, 'POST', `/api/invites/${link.token}/join`, asker.token);
    await c.api(url, 'POST', `/api/invites/${link.token}/join`, denied.token);
    const beforeApproval = await c.api(url, 'GET', `/api/rooms/${group.id}`, asker.token);
    const requests = c.assertOk(await c.api(url, 'GET', `/api/rooms/${group.id}/join-requests`, owner.token), 200);
    const approved = c.assertOk(await c.api(url, 'POST', `/api/rooms/${group.id}/join-requests/${asker.id}`, owner.token), 201);
    c.assertOk(await c.api(url, 'DELETE', `/api/rooms/${group.id}/join-requests/${denied.id}`, owner.token), 204);

    assert.equal(pending.status, 202);
    assert.deepEqual(pending.body, { pending: true, room_id: group.id });
    c.assertRestError(beforeApproval, 404, 'not_found');
    assert.deepEqual(requests.map((r) => r.user.id), [asker.id, denied.id]);
    c.assertFields(approved, { user_id: asker.id, role: 'member' });
    c.assertOk(await c.api(url, 'GET', `/api/rooms/${group.id}`, asker.token), 200);
    c.assertRestError(await c.api(url, 'GET', `/api/rooms/${group.id}`, denied.token), 404, 'not_found');
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${group.id}/join-requests/${denied.id}`, owner.token), 404, 'not_found');
  });
});

describe('channel directory', () => {
  it('finds public channels by name or description with follower counts, most followed first, and never groups', async () => {
    const [owner, fan] = await c.users(url, 2);
    const word = `dir${c.hex(4)}`;
    const byName = c.assertOk(await c.api(url, 'POST', '/api/rooms', owner.token, { kind: 'channel', name: `News ${word}` }), 201);
    const byDescription = c.assertOk(await c.api(url, 'POST', '/api/rooms', owner.token, { kind: 'channel', name: 'Other', description: `All about ${word.toUpperCase()}` }), 201);
    await c.createRoom(url, owner, { name: `Group ${word}` });
    c.assertOk(await c.api(url, 'POST', `/api/rooms/${byDescription.id}/members`, fan.token, { user_id: fan.id }), 201);
    const fanSocket = await c.connect(url, { token: fan.token });

    const found = c.assertOk(await c.api(url, 'GET', `/api/channels?q=${word}`, fan.token), 200);
    const viaSocket = await c.emitOk(fanSocket, 'channels:search', { q: word });

    assert.deepEqual(found.map((ch) => [ch.id, ch.followers_count]), [[byDescription.id, 2], [byName.id, 1]]);
    c.assertFields(found[0], { name: 'Other', description: `All about ${word.toUpperCase()}` });
    assert.deepEqual(viaSocket.channels, found);
    assert.deepEqual(c.assertOk(await c.api(url, 'GET', '/api/channels?q=%25', fan.token), 200).filter((ch) => ch.name.includes(word)), [], '% is literal');
  });
});

describe('reports and moderation', () => {
  it('a member reports a message and anyone reports a user; operators see them live on /admin and over REST; nobody else does', async () => {
    const [alice, bob] = await c.users(url, 2);
    const operatorUser = await op();
    const admin = await c.connect(url, { token: operatorUser.token, namespace: '/admin' });
    const dm = await c.directRoom(url, alice, bob);
    const sent = await c.postMessage(url, bob, dm.id, 'buy my stuff');
    const aliceSocket = await c.connect(url, { token: alice.token });

    const { report } = await c.emitOk(aliceSocket, 'report', { room_id: dm.id, seq: sent.seq, reason: 'spam' });
    const live = await c.waitFor(admin, 'report:new', (r) => r.id === report.id);
    const aboutUser = c.assertOk(await c.api(url, 'POST', '/api/reports', alice.token, { user_id: bob.id, reason: 'harassment' }), 201);
    const open = c.assertOk(await c.api(url, 'GET', '/api/admin/reports', operatorUser.token), 200);

    c.assertFields(live, { reporter_id: alice.id, target_user_id: bob.id, room_id: dm.id, seq: sent.seq, message_body: 'buy my stuff', reason: 'spam', status: 'open' });
    assert.ok(open.some((r) => r.id === report.id) && open.some((r) => r.id === aboutUser.id));
    c.assertRestError(await c.api(url, 'GET', '/api/admin/reports', alice.token), 403, 'forbidden');
    const [stranger] = await c.users(url, 1);
    c.assertRestError(await c.api(url, 'POST', '/api/reports', stranger.token, { room_id: dm.id, seq: sent.seq, reason: 'x' }), 404, 'not_found');
    c.assertRestError(await c.api(url, 'POST', '/api/reports', alice.token, { user_id: bob.id, reason: ' ' }), 400, 'invalid');
    const resolved = c.assertOk(await c.api(url, 'POST', `/api/admin/reports/${report.id}/resolve`, operatorUser.token), 200);
    assert.equal(resolved.status, 'resolved');
    const stillOpen = c.assertOk(await c.api(url, 'GET', '/api/admin/reports', operatorUser.token), 200);
    assert.ok(!stillOpen.some((r) => r.id === report.id));
  });

  it('a ban closes every socket, refuses access tokens, refresh and login; unban lets them log in; both are in the audit log', async () => {
    const [bob] = await c.users(url, 1);
    const operatorUser = await op();
    const phone = await c.connect(url, { token: bob.token });
    const laptop = await c.connect(url, { token: bob.token });

    c.assertOk(await c.api(url, 'POST', `/api/admin/users/${bob.id}/ban`, operatorUser.token, { reason: 'spam' }), 204);

    await c.waitDisconnect(phone);
    await c.waitDisconnect(laptop);
    c.assertRestError(await c.api(url, 'GET', '/api/me', bob.token), 401, 'unauthenticated');
    c.assertRestError(await c.api(url, 'POST', '/api/auth/refresh', null, { refresh_token: bob.refresh }), 401, 'unauthenticated');
    c.assertRestError(await c.api(url, 'POST', '/api/auth/login', null, { username: bob.username, password: bob.password }), 403, 'forbidden');
    assert.equal((await c.connectError(url, { token: bob.token })).message, 'unauthenticated');
    c.assertRestError(await c.api(url, 'POST', `/api/admin/users/${operatorUser.id}/ban`, bob.token), 401, 'unauthenticated');

    c.assertOk(await c.api(url, 'DELETE', `/api/admin/users/${bob.id}/ban`, operatorUser.token), 204);
    await c.login(url, bob);
    const log = c.assertOk(await c.api(url, 'GET', '/api/admin/audit', operatorUser.token), 200);
    const mine = log.filter((e) => e.target_user_id === bob.id).map((e) => [e.action, e.actor_id, e.detail]);
    assert.deepEqual(mine, [['unban', operatorUser.id, ''], ['ban', operatorUser.id, 'spam']]);
  });

  it('an operator deletes any message: a tombstone for every member, recorded in the audit log; others are forbidden', async () => {
    const [alice, bob] = await c.users(url, 2);
    const operatorUser = await op();
    const group = await c.createRoom(url, alice, { members: [bob] });
    const sent = await c.postMessage(url, bob, group.id, 'abuse');
    const aliceSocket = await c.connect(url, { token: alice.token });

    c.assertRestError(await c.api(url, 'DELETE', `/api/admin/rooms/${group.id}/messages/${sent.seq}`, alice.token), 403, 'forbidden');
    c.assertOk(await c.api(url, 'DELETE', `/api/admin/rooms/${group.id}/messages/${sent.seq}`, operatorUser.token), 204);

    const entry = await c.waitFor(aliceSocket, 'message', (m) => m.kind === 'delete' && m.target_seq === sent.seq);
    assert.equal(entry.sender_id, operatorUser.id);
    const page = c.assertOk(await c.api(url, 'GET', `/api/rooms/${group.id}/messages`, bob.token), 200);
    const tomb = page.messages.find((m) => m.seq === sent.seq);
    assert.equal(tomb.body, '');
    assert.match(tomb.deleted_at, c.RFC3339_MS);
    const log = c.assertOk(await c.api(url, 'GET', '/api/admin/audit', operatorUser.token), 200);
    c.assertFields(log.find((e) => e.action === 'delete_message' && e.room_id === group.id), { seq: sent.seq, target_user_id: bob.id, actor_id: operatorUser.id });
    c.assertRestError(await c.api(url, 'DELETE', `/api/admin/rooms/${group.id}/messages/999`, operatorUser.token), 404, 'not_found');
  });
});
