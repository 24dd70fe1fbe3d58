// docs/deployment.md: three nodes on one Postgres database behind Debian's nginx, started with
// the shipped deploy/nginx/missive.conf. Only what cannot run on a test machine is rewritten: the
// nodes' addresses become loopback ports, the listen ports free loopback ports, the certificate
// a fresh self-signed one, the log and temporary paths a temporary folder. Everything else (the
// stickiness, the upgrade headers, the timeouts, the limits, the error pages) is the file's own.
//
// Clients get distinct source addresses on 127.0.0.0/8 so that nginx's address hash spreads them
// over the nodes; nginx's access log (the shipped format names the node of every request) says
// where each one landed. Runs in the Postgres run of the suite; needs nginx (scripts/test.sh
// installs Debian's package; in CI a missing nginx fails the run, elsewhere it is skipped loudly).
'use strict';

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startServer, sharedDatabase, testDb, ROOT } = require('../lib/server');
const c = require('../lib/client');

const NGINX = process.env.MISSIVE_NGINX || '/usr/sbin/nginx';
const SHIPPED = path.join(ROOT, 'deploy', 'nginx', 'missive.conf');
const CI = process.env.CI === 'true';

/** What the guide sets on every node behind nginx (the per-address limits move to nginx). */
const BEHIND_PROXY = {
  MISSIVE_AUTH_RATE: '0',
  MISSIVE_HANDSHAKE_RATE: '0',
  MISSIVE_MAX_CONNS_PER_ADDR: '0',
  MISSIVE_MAX_GUESTS_PER_ADDR: '0',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (bound and released; nobody else on this machine races for it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The shipped configuration with the machine-specific parts replaced. Each replacement must
 * match, so a change to the shipped file that this test no longer understands fails here.
 */
function deriveConfig(shipped, { nodePorts, httpPort, httpsPort, dir }) {
  let conf = shipped;
  const replace = (re, to, count = 1) => {
    const n = (conf.match(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g')) || []).length;
    assert.equal(n, count, `the shipped config should have ${count} match(es) of ${re}, has ${n}`);
    conf = conf.replace(re, to);
  };
  let i = 0;
  replace(/^(\s*)server 10\.0\.0\.\d+:4000( [^;]*)?;$/gm,
    (_m, indent, params) => `${indent}server 127.0.0.1:${nodePorts[i++]}${params || ''};`, 3);
  replace(/^\s*listen \[::\]:\d+[^;]*;\n/gm, '', 2);
  replace(/listen 80;/, `listen 127.0.0.1:${httpPort};`);
  replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${httpsPort} ssl http2;`);
  replace(/\/etc\/letsencrypt\/live\/chat\.example\.org\/fullchain\.pem/, path.join(dir, 'cert.pem'));
  replace(/\/etc\/letsencrypt\/live\/chat\.example\.org\/privkey\.pem/, path.join(dir, 'key.pem'));
  replace(/root \/var\/www\/html;/, `root ${path.join(dir, 'www')};`);
  replace(/\/var\/log\/nginx\/missive\.access\.log/, path.join(dir, 'access.log'));
  return conf;
}

/** The main file around it: everything nginx would otherwise put under /var or /run. */
function mainConfig(dir) {
  const p = (name) => path.join(dir, name);
  return `worker_processes 1;
error_log ${p('error.log')} info;
events { worker_connections 1024; }
http {
    client_body_temp_path ${p('tmp/client_body')};
    proxy_temp_path       ${p('tmp/proxy')};
    fastcgi_temp_path     ${p('tmp/fastcgi')};
    uwsgi_temp_path       ${p('tmp/uwsgi')};
    scgi_temp_path        ${p('tmp/scgi')};
    access_log off;
    include ${p('missive.conf')};
}
`;
}

/**
 * Parses the shipped access-log format: for each client address, the node (last upstream
 * tried) of each of its requests under `prefix`, in order.
 */
function upstreamsByClient(dir, prefix = '/socket.io/') {
  const text = fs.readFileSync(path.join(dir, 'access.log'), 'utf8');
  /** @type {Map<string, string[]>} */
  const byClient = new Map();
  for (const line of text.split('\n')) {
    const m = line.match(/^(\S+) \[[^\]]*\] "\S+ (\S+)" \d+ upstream=(.*?) upstream_status=/);
    if (!m || !m[2].startsWith(prefix) || m[3] === '-') continue;
    const tried = m[3].split(/, | : /);
    const list = byClient.get(m[1]) || [];
    list.push(tried[tried.length - 1]);
    byClient.set(m[1], list);
  }
  return byClient;
}

/** `missive_sockets` of one node (its /metrics, asked directly, not through nginx). */
async function socketsOn(nodeUrl) {
  const text = await (await fetch(nodeUrl + '/metrics')).text();
  const m = text.match(/^missive_sockets (\d+)/m);
  return m ? Number(m[1]) : 0;
}

if (testDb() === 'postgres') {
  const missing = !fs.existsSync(NGINX);
  if (missing && CI) {
    it('nginx is installed (scripts/test.sh installs it)', () => {
      assert.fail(`nginx is not at ${NGINX}; CI must run the deployment test (apt-get install nginx)`);
    });
  } else if (missing) {
    process.stderr.write(`\n*** SKIPPED: nginx is not at ${NGINX}: the deployment test behind nginx is skipped. Install it with 'apt-get install nginx' (or set MISSIVE_NGINX). ***\n\n`);
    it('three nodes behind nginx', { skip: `nginx is not at ${NGINX}` }, () => {});
  } else {
    describe('three nodes behind nginx with the shipped configuration', () => {
      /** @type {any[]} */
      let nodes = [];
      let db;
      let dir;
      let nginx;
      let nginxOutput = '';
      let base; // https://127.0.0.1:<port>
      let httpPort;
      let ca;
      /** Source addresses handed out so far (127.0.0.2 upwards; 127.0.0.1 is nginx's own). */
      let nextAddress = 2;
      const address = () => `127.0.0.${nextAddress++}`;
      const agents = new Map();
      const agentFor = (addr) => {
        if (!agents.has(addr)) agents.set(addr, new https.Agent({ localAddress: addr, ca, keepAlive: false }));
        return agents.get(addr);
      };
      const nodeOf = (port) => nodes.findIndex((n) => n.url.endsWith(`:${port}`));

      /** One REST call through nginx from `addr`. */
      function rest(addr, method, urlPath, { token, body } = {}) {
        return new Promise((resolve, reject) => {
          const payload = body === undefined ? undefined : JSON.stringify(body);
          const req = https.request(base + urlPath, {
            method,
            agent: agentFor(addr),
            headers: {
              ...(token ? { authorization: `Bearer ${token}` } : {}),
              ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
            },
          }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => { text += d; });
            res.on('end', () => {
              let parsed = text;
              try { parsed = JSON.parse(text); } catch (_) { /* not JSON */ }
              resolve({ status: res.statusCode, headers: res.headers, body: parsed });
            });
          });
          req.on('error', reject);
          req.end(payload);
        });
      }

      /** A socket of the official client through nginx from `addr`, DEFAULT transports. */
      function connectVia(addr, user, io = {}) {
        return c.connect(base, {
          token: user.token,
          transports: 'default',
          io: { agent: agentFor(addr), ca, localAddress: addr, timeout: 8000, ...io },
        });
      }

      /** Registers a user through nginx from `addr`. */
      async function register(addr) {
        const username = `ng_${crypto.randomBytes(5).toString('hex')}`;
        const password = `pw-${crypto.randomBytes(8).toString('hex')}`;
        const res = await rest(addr, 'POST', '/api/auth/register', { body: { username, password } });
        assert.equal(res.status, 201, `register through nginx: ${res.status} ${JSON.stringify(res.body)}`);
        return { id: res.body.user.id, token: res.body.access_token, username, password };
      }

      before(async () => {
        db = sharedDatabase('missive_nginx');
        const env = {
          DATABASE_URL: db.url,
          MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
          MISSIVE_PRESENCE_GRACE: '200ms',
          ...BEHIND_PROXY,
        };
        // One after the other: the first one creates the database and runs the migrations.
        for (let i = 0; i < 3; i++) nodes.push(await startServer({ env }));

        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'missive-nginx-'));
        // nginx started as root runs its workers as `nobody`: they must reach the folder.
        fs.chmodSync(dir, 0o755);
        fs.mkdirSync(path.join(dir, 'tmp'));
        fs.mkdirSync(path.join(dir, 'www'));
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
          '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
        ca = fs.readFileSync(path.join(dir, 'cert.pem'));

        httpPort = await freePort();
        const httpsPort = await freePort();
        const nodePorts = nodes.map((n) => Number(new URL(n.url).port));
        fs.writeFileSync(path.join(dir, 'missive.conf'),
          deriveConfig(fs.readFileSync(SHIPPED, 'utf8'), { nodePorts, httpPort, httpsPort, dir }));
        fs.writeFileSync(path.join(dir, 'nginx.conf'), mainConfig(dir));
        base = `https://127.0.0.1:${httpsPort}`;

        nginx = spawn(NGINX, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'),
          '-g', `daemon off; pid ${path.join(dir, 'nginx.pid')};`], { stdio: ['ignore', 'pipe', 'pipe'] });
        nginx.stdout.on('data', (d) => { nginxOutput += d; });
        nginx.stderr.on('data', (d) => { nginxOutput += d; });
        for (let i = 0; ; i++) {
          if (nginx.exitCode !== null) {
            const log = fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : '';
            assert.fail(`nginx exited with ${nginx.exitCode}:\n${nginxOutput}\n${log}`);
          }
          try {
            const res = await rest('127.0.0.1', 'GET', '/healthz');
            if (res.status === 200) break;
          } catch (_) { /* not listening yet */ }
          assert.ok(i < 100, `nginx did not answer within 10 s:\n${nginxOutput}`);
          await sleep(100);
        }
      });

      after(async () => {
        c.disconnectAll();
        if (nginx && nginx.exitCode === null) {
          const exited = new Promise((r) => nginx.once('exit', r));
          nginx.kill('SIGQUIT');
          const t = setTimeout(() => nginx.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(t);
        }
        for (const n of nodes) await n.stop();
        if (db) db.drop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      });
      afterEach(() => c.disconnectAll());

      it('the official client with its default transports connects 10 of 10 times, each from another address, sticky to one node, spread over the nodes', async () => {
        const addrs = Array.from({ length: 10 }, address);
        const users = [];
        for (const addr of addrs) users.push(await register(addr));

        const sockets = [];
        for (const [i, addr] of addrs.entries()) sockets.push(await connectVia(addr, users[i]));

        // Long-polling first, then the upgrade to WebSocket, through nginx's upgrade headers.
        for (const s of sockets) {
          if (s.io.engine.transport.name !== 'websocket') {
            await new Promise((resolve, reject) => {
              const t = setTimeout(() => reject(new Error(`no upgrade to websocket, still ${s.io.engine.transport.name}`)), 5000);
              s.io.engine.once('upgrade', () => { clearTimeout(t); resolve(undefined); });
            });
          }
          assert.equal(s.io.engine.transport.name, 'websocket');
        }
        // Every Engine.IO request of one client went to one node (else "Session ID unknown").
        const seen = upstreamsByClient(dir);
        const perNode = [0, 0, 0];
        for (const addr of addrs) {
          const ups = new Set(seen.get(addr) || []);
          assert.equal(ups.size, 1, `${addr}'s Socket.IO requests went to ${[...ups].join(' and ') || 'no node'}`);
          const node = nodeOf(Number([...ups][0].split(':')[1]));
          assert.ok(node >= 0, `unknown upstream ${[...ups][0]}`);
          perNode[node]++;
        }
        assert.ok(perNode.filter((n) => n > 0).length >= 2, `10 addresses all landed on one node: ${perNode}`);
        // The nodes agree: each one's socket gauge (refreshed every second) counts its share.
        await sleep(1500);
        assert.deepEqual(await Promise.all(nodes.map((n) => socketsOn(n.url))), perNode, 'missive_sockets of each node');
        process.stderr.write(`# 10 clients per node through nginx: ${perNode.join(' / ')}\n`);
      });

      it('nginx answers with the error shape of the contract: rate_limited past the login burst, 404 for /metrics, and plain HTTP redirects to HTTPS', async () => {
        // Each attempt names another unknown account, so the nodes' per-account throttle stays
        // out of it: every 429 here is nginx's per-address limit (burst 30, 10 a second).
        const login = (addr) => rest(addr, 'POST', '/api/auth/login',
          { body: { username: `nobody_${crypto.randomBytes(5).toString('hex')}`, password: 'wrong-password' } });
        const addr = address();
        const t0 = Date.now();
        const attempts = await Promise.all(Array.from({ length: 60 }, () => login(addr)));
        const seconds = (Date.now() - t0) / 1000;
        const limited = attempts.filter((r) => r.status === 429);
        const passed = attempts.filter((r) => r.status !== 429);
        // nginx lets through at most the burst, plus 10 a second over the time they took to arrive.
        assert.ok(limited.length >= 1 && passed.length <= 31 + Math.ceil(10 * seconds),
          `60 logins at once from one address in ${seconds} s: ${passed.length} passed, ${limited.length} refused by nginx`);
        assert.deepEqual(limited[0].body.error,
          { code: 'rate_limited', message: 'too many requests from this address', retry_after_ms: 1000 });
        assert.equal(limited[0].headers['retry-after'], '1');
        // What passed reached a node: a wrong password, or (the node's password-hashing queue
        // full under this burst, MISSIVE_HASH_QUEUE) `unavailable`.
        assert.ok(passed.length >= 30 && passed.every((r) => r.status === 401
          || (r.status === 503 && r.body.error.code === 'unavailable')),
        `the burst reaches the nodes: ${passed.map((r) => r.status)}`);
        // Another address is not held back by the first one's burst.
        assert.equal((await login(address())).status, 401);

        assert.equal((await rest(address(), 'GET', '/metrics')).status, 404);
        const plain = await new Promise((resolve, reject) => {
          http.get(`http://127.0.0.1:${httpPort}/some/page?x=1`, (res) => { res.resume(); resolve(res); }).on('error', reject);
        });
        assert.equal(plain.statusCode, 301);
        assert.match(plain.headers.location, /^https:\/\/127\.0\.0\.1\/some\/page\?x=1$/);
      });

      it('messages cross nodes both ways; after kill -9 of a node its clients reconnect through nginx to the others and catch up every message', async () => {
        // Arrange: 12 members of one group, each on its own address, spread by nginx.
        const addrs = Array.from({ length: 12 }, address);
        const users = [];
        for (const addr of addrs) users.push(await register(addr));
        const created = await rest(addrs[0], 'POST', '/api/rooms', {
          token: users[0].token, body: { kind: 'group', name: 'behind nginx', members: users.slice(1).map((u) => u.id) },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const room = created.body;
        const sockets = [];
        for (const [i, addr] of addrs.entries()) {
          sockets.push(await connectVia(addr, users[i], { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 }));
        }
        const seen = upstreamsByClient(dir);
        const nodeOfClient = addrs.map((a) => {
          const list = seen.get(a) || [];
          return nodeOf(Number(list[list.length - 1].split(':')[1]));
        });
        const perNode = [0, 1, 2].map((n) => nodeOfClient.filter((x) => x === n).length);
        assert.ok(perNode.filter((n) => n > 0).length >= 2, `12 addresses all landed on one node: ${perNode}`);
        process.stderr.write(`# 12 group members per node through nginx: ${perNode.join(' / ')}\n`);

        const sent = [];
        let k = 0;
        const sendFrom = async (i) => {
          const m = await c.send(sockets[i], { room_id: room.id, body: `m${k}`, client_id: `c-${k++}` });
          sent.push(m);
          return m;
        };

        // Act 1: one message from a client on each node; every member gets each one live.
        for (const n of [0, 1, 2]) {
          const i = nodeOfClient.indexOf(n);
          if (i < 0) continue;
          const m = await sendFrom(i);
          await Promise.all(sockets.map((s, j) => (j === i ? null : c.waitFor(s, 'message', (x) => x.id === m.id, 5000)
            .catch(() => assert.fail(`message from node ${n} did not reach member ${j} on node ${nodeOfClient[j]} live`)))));
        }

        // Act 2: kill -9 the node with the most members; the others keep sending meanwhile.
        const victim = perNode.indexOf(Math.max(...perNode));
        const survivors = sockets.map((_, i) => i).filter((i) => nodeOfClient[i] !== victim);
        const orphans = sockets.map((_, i) => i).filter((i) => nodeOfClient[i] === victim);
        const dropped = Promise.all(orphans.map((i) => c.waitDisconnect(sockets[i], 5000)));
        const killedAt = Date.now();
        await nodes[victim].kill('SIGKILL');
        await dropped;
        for (let j = 0; j < 10; j++) await sendFrom(survivors[j % survivors.length]);

        // Each orphan reconnects (nginx skips the dead node) and catches up: a second `synced`,
        // within 15 s, so a survivor may not hold handshakes waiting on the dead node.
        const requestsOf = (i) => fs.readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n')
          .filter((l) => l.startsWith(addrs[i] + ' ')).join('\n');
        await Promise.all(orphans.map((i) => c.waitFor(sockets[i], 'synced', (_d, e) => e.at > killedAt, 15000)
          .catch((e) => assert.fail(`member ${i} did not reconnect and catch up through nginx: ${e.message}\n${requestsOf(i)}`))));
        for (const i of orphans) {
          assert.ok(sockets[i].connected, `member ${i} is connected again (last disconnect: ${sockets[i].disconnectReason}; its requests:\n${requestsOf(i)})`);
        }
        // And they can send: a message from a reconnected member reaches everyone.
        const last = await sendFrom(orphans[0]);

        // Assert: every member holds every message, live or from catch-up; none is lost.
        const after = upstreamsByClient(dir);
        for (const i of orphans) {
          const list = after.get(addrs[i]) || [];
          const now = nodeOf(Number(list[list.length - 1].split(':')[1]));
          assert.ok(now >= 0 && now !== victim, `member ${i} reconnected to node ${now}, not a survivor`);
        }
        await Promise.all(sockets.map((s, j) => (j === orphans[0] ? null : c.waitFor(s, 'message', (x) => x.id === last.id, 5000))));
        for (const [j, s] of sockets.entries()) {
          const got = new Set([
            ...c.received(s, 'message').map((m) => m.id),
            ...c.received(s, 'sync').flatMap((b) => b.messages.map((m) => m.id)),
            ...sent.filter((m) => m.sender_id === users[j].id).map((m) => m.id), // its own, from the acks
          ]);
          const missing = sent.filter((m) => !got.has(m.id));
          assert.deepEqual(missing.map((m) => m.body), [], `member ${j} (node ${nodeOfClient[j]}${orphans.includes(j) ? ', killed' : ''}) lost messages`);
        }
      });
    });
  }
}
