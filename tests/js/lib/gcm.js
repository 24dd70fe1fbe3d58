// A stand-in for the two Google endpoints a desktop Chromium talks to before
// `PushManager.subscribe` can resolve: the GCM check-in (which gives the browser a device id and
// security token) and the registration (which gives it the token its push endpoint is made of).
// Chromium lets tests point it elsewhere with `--gcm-checkin-url` and `--gcm-registration-url`
// (see `gcmArgs`), the switches of its own GCM tests. The browser does everything else for real:
// its permission check, its key pair and auth secret, and the subscription it returns. Delivery
// to the service worker is done through the DevTools protocol (ServiceWorker.deliverPushMessage).
'use strict';

const http = require('node:http');

/** `field` as a protobuf fixed64 (wire type 1). */
function fixed64(field, value) {
  const b = Buffer.alloc(9);
  b[0] = (field << 3) | 1;
  b.writeBigUInt64LE(BigInt(value), 1);
  return b;
}

const ANDROID_ID = 4242424242n;
const SECURITY_TOKEN = 7373737373n;

async function startGcm() {
  const registrations = [];
  let checkins = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && req.url === '/checkin') {
        checkins += 1;
        // AndroidCheckinResponse: stats_ok = true (1), android_id (7), security_token (8).
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end(Buffer.concat([Buffer.from([0x08, 0x01]), fixed64(7, ANDROID_ID), fixed64(8, SECURITY_TOKEN)]));
      } else if (req.method === 'POST' && req.url === '/register') {
        const form = Object.fromEntries(new URLSearchParams(body));
        const token = `e2e-${registrations.length}-${Date.now().toString(36)}`;
        registrations.push({ form, auth: req.headers.authorization, token });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`token=${token}`);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    registrations,
    get checkins() { return checkins; },
    /** Chromium switches sending its GCM traffic here (and its MCS connection nowhere). */
    args: [`--gcm-checkin-url=${base}/checkin`, `--gcm-registration-url=${base}/register`, '--gcm-mcs-endpoint=https://127.0.0.1:9'],
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

module.exports = { startGcm };
