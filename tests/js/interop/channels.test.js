// docs/protocol.md §2 channels: public join/leave, only owner/admin post, followers read live.
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

let server;
let url;
c.useServer((s) => {
  server = s;
  url = s.url;
});

describe('channels', () => {
  it('anyone may join a channel with room:join and then receives its posts live', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel', name: 'news' });
    const ownerSocket = await c.connect(url, { token: owner.token });
    const followerSocket = await c.connect(url, { token: follower.token });

    const ack = await c.emitOk(followerSocket, 'room:join', { room_id: channel.id });
    const post = await c.send(ownerSocket, { room_id: channel.id, body: 'breaking news' });

    c.assertFields(ack.room, { id: channel.id, kind: 'channel', name: 'news', my_role: 'member' }, 'joined room');
    const live = await c.waitFor(followerSocket, 'message', (m) => m.id === post.id);
    assert.equal(live.body, 'breaking news');
  });

  it('room:create makes a channel whose creator is owner', async () => {
    const owner = await c.register(url);
    const socket = await c.connect(url, { token: owner.token });

    const { room } = await c.emitOk(socket, 'room:create', { kind: 'channel', name: 'announcements' });

    c.assertFields(room, { kind: 'channel', name: 'announcements', owner_id: owner.id, my_role: 'owner', members_count: 1 }, 'channel');
  });

  it('joining a channel over REST (POST members with oneself) answers 201', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });

    const res = await c.api(url, 'POST', `/api/rooms/${channel.id}/members`, follower.token, { user_id: follower.id });

    assert.equal(res.status, 201, JSON.stringify(res.body));
    c.assertFields(res.body, { user_id: follower.id, role: 'member' }, 'member');
    assert.ok((await c.myRoom(url, follower, channel.id)), 'the channel is in the follower\'s room list');
  });

  it('followers may not post to a channel: forbidden over the socket and over REST', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    const followerSocket = await c.connect(url, { token: follower.token });
    await c.emitOk(followerSocket, 'room:join', { room_id: channel.id });

    await c.emitErr(followerSocket, 'message:send', { room_id: channel.id, body: 'me too' }, 'forbidden');
    const rest = await c.api(url, 'POST', `/api/rooms/${channel.id}/messages`, follower.token, { body: 'me too' });

    c.assertRestError(rest, 403, 'forbidden');
    const page = await c.api(url, 'GET', `/api/rooms/${channel.id}/messages`, follower.token);
    assert.ok(!page.body.messages.some((m) => m.kind === 'text'), 'no follower post was stored');
  });

  it('a follower promoted to admin may post', async () => {
    const [owner, follower, reader] = await c.users(url, 3);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    const followerSocket = await c.connect(url, { token: follower.token });
    const readerSocket = await c.connect(url, { token: reader.token });
    await c.emitOk(followerSocket, 'room:join', { room_id: channel.id });
    await c.emitOk(readerSocket, 'room:join', { room_id: channel.id });

    const res = await c.api(url, 'PATCH', `/api/rooms/${channel.id}/members/${follower.id}`, owner.token, { role: 'admin' });
    const post = await c.send(followerSocket, { room_id: channel.id, body: 'admin post' });

    assert.equal(res.status, 200, JSON.stringify(res.body));
    await c.waitFor(readerSocket, 'message', (m) => m.id === post.id);
  });

  it('leaving a channel with room:leave stops delivery and sends room:removed', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    const ownerSocket = await c.connect(url, { token: owner.token });
    const followerSocket = await c.connect(url, { token: follower.token });
    await c.emitOk(followerSocket, 'room:join', { room_id: channel.id });

    await c.emitOk(followerSocket, 'room:leave', { room_id: channel.id });
    const post = await c.send(ownerSocket, { room_id: channel.id, body: 'after you left' });

    await c.waitFor(followerSocket, 'room:removed', (r) => r.room_id === channel.id);
    await c.expectNone(followerSocket, 'message', (m) => m.id === post.id);
    const rooms = await c.api(url, 'GET', '/api/rooms', follower.token);
    assert.ok(!rooms.body.some((r) => r.id === channel.id));
  });

  it('a follower who joined on one device receives posts on the other devices too', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    const ownerSocket = await c.connect(url, { token: owner.token });
    const phone = await c.connect(url, { token: follower.token });
    const laptop = await c.connect(url, { token: follower.token });

    await c.emitOk(phone, 'room:join', { room_id: channel.id });
    const post = await c.send(ownerSocket, { room_id: channel.id, body: 'to every device' });

    await c.waitFor(phone, 'message', (m) => m.id === post.id);
    await c.waitFor(laptop, 'message', (m) => m.id === post.id);
  });

  it('reading a channel sends no receipt to the poster (receipts are for direct and group rooms)', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    const ownerSocket = await c.connect(url, { token: owner.token });
    const followerSocket = await c.connect(url, { token: follower.token });
    await c.emitOk(followerSocket, 'room:join', { room_id: channel.id });
    const post = await c.send(ownerSocket, { room_id: channel.id, body: 'read me' });

    await c.emitOk(followerSocket, 'message:read', { room_id: channel.id, seq: post.seq });

    await c.expectNone(ownerSocket, 'receipt');
    assert.equal((await c.myRoom(url, follower, channel.id)).read_seq, post.seq);
  });

  it('room:join on a group the caller is not in is not_found (groups are not public)', async () => {
    const [owner, outsider] = await c.users(url, 2);
    const group = await c.createRoom(url, owner, { kind: 'group' });
    const socket = await c.connect(url, { token: outsider.token });

    await c.emitErr(socket, 'room:join', { room_id: group.id }, 'not_found');
    const rest = await c.api(url, 'POST', `/api/rooms/${group.id}/members`, outsider.token, { user_id: outsider.id });

    c.assertRestError(rest, 404, 'not_found');
  });
});
