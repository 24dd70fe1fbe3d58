// The shared Redis of the test machine (MISSIVE_TEST_REDIS_URL, default redis://127.0.0.1:6379),
// spoken to directly in RESP over TCP: `redisAvailable()` tells whether the Redis lanes can run,
// `redisCommand()` sends one command (CLIENT LIST, CLIENT KILL, ...). Every cluster of the tests
// uses its own MISSIVE_REDIS_PREFIX, so suites sharing this Redis do not hear each other.
'use strict';

const net = require('node:net');
const crypto = require('node:crypto');

const REDIS_URL = process.env.MISSIVE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

function target() {
  const u = new URL(REDIS_URL);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) };
}

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parses one RESP2 reply at `buf[i]`; returns `[value, next]` or `null` if incomplete. */
function parse(buf, i = 0) {
  const eol = buf.indexOf('\r\n', i);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[i]);
  const line = buf.toString('utf8', i + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+': return [line, next];
    case '-': return [new Error(line), next];
    case ':': return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items = [];
      let at = next;
      for (let k = 0; k < n; k++) {
        const r = parse(buf, at);
        if (!r) return null;
        items.push(r[0]);
        at = r[1];
      }
      return [items, at];
    }
    default: throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

/**
 * Sends one command on a fresh connection and resolves with its reply (rejects on a Redis error).
 * @param {Array<string|number>} args
 * @param {number} [timeoutMs]
 */
function redisCommand(args, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(target());
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis ${args[0]}: no answer`)); }, timeoutMs);
    sock.on('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(buf);
      if (!r) return;
      clearTimeout(timer);
      sock.end();
      if (r[0] instanceof Error) reject(r[0]);
      else resolve(r[0]);
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Whether Redis answers PING. */
async function redisAvailable() {
  try {
    return (await redisCommand(['PING'], 1500)) === 'PONG';
  } catch (_) {
    return false;
  }
}

/** A prefix of its own for one cluster of a test. */
function redisPrefix() {
  return `missive-test-${crypto.randomBytes(5).toString('hex')}`;
}

/** The clients of CLIENT LIST, each as an object of its fields. */
async function redisClients() {
  const list = await redisCommand(['CLIENT', 'LIST']);
  return list.split('\n').filter(Boolean).map((line) => Object.fromEntries(
    line.trim().split(' ').map((kv) => {
      const at = kv.indexOf('=');
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  ));
}

module.exports = { REDIS_URL, redisCommand, redisAvailable, redisPrefix, redisClients };
