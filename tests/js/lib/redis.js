// The shared Redis of the test machine (MISSIVE_TEST_REDIS_URL, default redis://127.0.0.1:6379),
// spoken to with `redis-cli`: `redisAvailable()` tells whether the Redis lanes can run,
// `redisCommand()` sends one command (CLIENT LIST, CLIENT KILL, ...). Every cluster of the tests
// uses its own MISSIVE_REDIS_PREFIX, so suites sharing this Redis do not hear each other.
'use strict';

const { execFile } = require('node:child_process');
const crypto = require('node:crypto');

const REDIS_URL = process.env.MISSIVE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/**
 * Sends one command with Debian's `redis-cli` (installed with redis-server) and resolves with
 * its raw reply (rejects when Redis answers an error or does not answer).
 * @param {Array<string|number>} args
 * @param {number} [timeoutMs]
 * @returns {Promise<string>}
 */
function redisCommand(args, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-u', REDIS_URL, '--no-raw', ...args.map(String)], { timeout: timeoutMs }, (err, stdout) => {
      if (err) return reject(new Error(`redis-cli ${args[0]}: ${err.message}`));
      const out = stdout.trim();
      if (out.startsWith('(error)')) return reject(new Error(out));
      resolve(out.replace(/^\(integer\) /, '').replace(/^"(.*)"$/s, (_, body) => JSON.parse(`"${body}"`)));
    });
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
