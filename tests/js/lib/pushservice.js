// A real HTTP server playing a Web Push service (RFC 8030) and an HTTP push gateway, for the
// notification tests. The push service does what a real one must: it checks the VAPID JWT
// (RFC 8292, ES256, signed by the key Missive serves) and the request headers; the test's
// subscription then decrypts the RFC 8291 `aes128gcm` payload with its own private key, as a
// browser would. Nothing of Missive's code is reused: node:crypto only.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const assert = require('node:assert/strict');

const b64u = (buf) => Buffer.from(buf).toString('base64url');

/** A browser's push subscription: its own P-256 key pair and auth secret. */
function newSubscription(endpoint) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return {
    endpoint,
    keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) },
    /** RFC 8291 §3.4 and RFC 8188 §2, from the receiving side. */
    decrypt(body) {
      const salt = body.subarray(0, 16);
      const rs = body.readUInt32BE(16);
      assert.ok(rs >= 18, `record size ${rs}`);
      const idlen = body[20];
      assert.equal(idlen, 65, 'keyid is the sender\'s uncompressed P-256 public key');
      const asPublic = body.subarray(21, 21 + idlen);
      const ciphertext = body.subarray(21 + idlen);
      assert.ok(ciphertext.length <= rs, 'one record');
      const shared = ecdh.computeSecret(asPublic);
      const info = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), asPublic]);
      const ikm = Buffer.from(crypto.hkdfSync('sha256', shared, auth, info, 32));
      const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
      const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
      const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      let plain = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
      // Strip padding: zeros, then the delimiter 0x02 of the last record.
      let end = plain.length - 1;
      while (end >= 0 && plain[end] === 0) end -= 1;
      assert.equal(plain[end], 2, 'the last record ends with delimiter 0x02');
      plain = plain.subarray(0, end);
      return JSON.parse(plain.toString('utf8'));
    },
  };
}

/** Verifies `Authorization: vapid t=<jwt>, k=<key>` for a request to `origin`. */
function verifyVapid(header, origin, serverKey) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header || '');
  assert.ok(m, `VAPID Authorization header: ${header}`);
  const [, jwt, k] = m;
  assert.equal(k, serverKey, 'k is the public key Missive serves');
  const [h, c, s] = jwt.split('.');
  const headerJson = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(headerJson.alg, 'ES256');
  const claims = JSON.parse(Buffer.from(c, 'base64url'));
  assert.equal(claims.aud, origin, 'aud is the push service origin');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(claims.exp > now && claims.exp <= now + 24 * 3600, `exp within 24h: ${claims.exp}`);
  assert.match(claims.sub, /^(mailto:|https:)/);
  const raw = Buffer.from(k, 'base64url');
  assert.equal(raw.length, 65);
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) },
    format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  assert.ok(ok, 'the VAPID JWT signature verifies with the served key');
}

/**
 * Starts the fake push service and gateway on 127.0.0.1.
 * `statuses[path]` is a list of statuses to answer in turn (then 201); `'hang'` never answers.
 */
async function startPushService(serverKey) {
  const received = []; // {kind, path, headers, body, at}
  const failures = [];
  const statuses = {};
  const rejects = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const origin = `http://${req.headers.host}`;
      const kind = req.url.startsWith('/gateway') ? 'gateway' : 'webpush';
      try {
        assert.equal(req.method, 'POST');
        if (kind === 'webpush') {
          verifyVapid(req.headers.authorization, origin, serverKey());
          assert.equal(req.headers['content-encoding'], 'aes128gcm');
          assert.ok(Number(req.headers.ttl) > 0, `TTL header: ${req.headers.ttl}`);
          assert.ok(['very-low', 'low', 'normal', 'high'].includes(req.headers.urgency), `Urgency: ${req.headers.urgency}`);
        } else {
          assert.match(req.headers['content-type'] || '', /json/);
        }
      } catch (err) {
        failures.push(err);
      }
      received.push({ kind, path: req.url, headers: req.headers, body, at: Date.now() });
      const queue = statuses[req.url] || [];
      const status = queue.length ? queue.shift() : (kind === 'gateway' ? 200 : 201);
      if (status === 'hang') return; // never answers: the sender's timeout must end it
      res.writeHead(status, { 'content-type': 'application/json' });
      // A gateway names the device tokens its relay refused (`rejects` holds such paths).
      const rejected = rejects.has(req.url) ? JSON.parse(body).notification.devices.map((d) => d.pushkey) : [];
      res.end(kind === 'gateway' && status === 200 ? JSON.stringify({ rejected }) : '');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    received,
    statuses,
    rejects,
    /** Throws the first request that broke the standards. */
    check() {
      if (failures.length) throw failures[0];
    },
    /** The requests to `path` so far. */
    at(path) {
      return received.filter((r) => r.path === path);
    },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

module.exports = { newSubscription, startPushService, verifyVapid };
