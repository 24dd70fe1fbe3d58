// Starts a real Missive server process on port 0 with a fresh database, for the JS suites.
//
// The database is chosen by MISSIVE_TEST_DB (`sqlite`, the default, or `postgres`). Postgres
// gets a database of its own per server, created by the server itself and dropped on stop.
// `opts.env.DATABASE_URL` overrides it (several nodes on one database); then the database is
// dropped on stop only with `opts.dropDatabase`.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.MISSIVE_BIN || path.join(ROOT, 'target', 'debug', 'missive');
const PG_BASE = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';

function testDb() {
  return (process.env.MISSIVE_TEST_DB || 'sqlite').toLowerCase();
}

/**
 * Spawns the server and resolves once it prints its address.
 * @param {object} [opts]
 * @param {Record<string, string>} [opts.env] extra environment (e.g. `{MISSIVE_SEND_RATE: '5'}`)
 * @param {boolean} [opts.dropDatabase] drop the Postgres database of `opts.env.DATABASE_URL` on stop
 * @returns {Promise<{url: string, stop: () => Promise<void>, kill: (signal?: string) => Promise<void>,
 *   logs: () => string}>}
 */
async function startServer(opts = {}) {
  const id = crypto.randomBytes(6).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'missive-js-'));
  let databaseUrl;
  let pgName = null;
  if (testDb() === 'postgres') {
    pgName = `missive_js_${id}`;
    databaseUrl = `${PG_BASE}/${pgName}`;
  } else {
    databaseUrl = `sqlite://${path.join(dir, 'missive.db')}`;
  }
  const env = {
    ...process.env,
    MISSIVE_ADDR: '127.0.0.1:0',
    DATABASE_URL: databaseUrl,
    MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
    MISSIVE_STATIC_DIR: path.join(ROOT, 'static'),
    MISSIVE_SEND_RATE: '0',
    RUST_LOG: process.env.RUST_LOG || 'warn',
    ...(opts.env || {}),
  };
  if (opts.env && opts.env.DATABASE_URL) {
    const url = opts.env.DATABASE_URL;
    pgName = opts.dropDatabase && url.startsWith('postgres') ? url.slice(url.lastIndexOf('/') + 1) : null;
  }
  const child = spawn(BIN, [], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30000);
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { output += c.toString(); });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${err.message} (build it with 'cargo build')`));
    });
  });
  // `onData` keeps collecting stdout (and stderr has its own listener) for `logs()`.
  child.removeAllListeners('exit');
  let stopping = false;
  child.on('exit', (code, signal) => {
    output += `\n[missive exited: code ${code}, signal ${signal}]\n`;
    if (!stopping) {
      // A server that dies under a test makes every later call fail with "fetch failed";
      // say why, once, where the test output shows it.
      process.stderr.write(`\n*** missive (${url}) died unexpectedly (code ${code}, signal ${signal}); last output:\n${output.slice(-4000)}\n`);
    }
  });

  async function stop() {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (pgName) {
      try {
        execFileSync('psql', [PG_BASE + '/postgres', '-qc', `drop database if exists ${pgName} with (force)`], { stdio: 'ignore' });
      } catch (_) { /* best effort: a leftover test database is harmless */ }
    }
  }

  /** Kills the process outright (default SIGKILL: no shutdown, no flush) and waits for it to go. */
  async function kill(signal = 'SIGKILL') {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    }
  }
  return { url, stop, kill, logs: () => output, pid: child.pid };
}

/**
 * A database of the suite's kind (MISSIVE_TEST_DB) that outlives one server process: pass
 * `{env: {DATABASE_URL: url}}` to each server, and `dropDatabase: true` to the last one (or call
 * `drop`). A SQLite file lives in a temporary folder removed by `drop`.
 * @returns {{url: string, drop: () => void}}
 */
function sharedDatabase(prefix = 'missive_shared') {
  if (testDb() === 'postgres') {
    const name = `${prefix}_${crypto.randomBytes(5).toString('hex')}`;
    return {
      url: `${PG_BASE}/${name}`,
      drop() {
        try {
          execFileSync('psql', [PG_BASE + '/postgres', '-qc', `drop database if exists ${name} with (force)`], { stdio: 'ignore' });
        } catch (_) { /* best effort */ }
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'missive-db-'));
  return {
    url: `sqlite://${path.join(dir, 'missive.db')}`,
    drop: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs the binary once with `args` (an operator command), `input` on its stdin; a `null` in
 * `env` unsets that variable.
 * @returns {Promise<{code: number, stdout: string, stderr: string}>}
 */
function runCli(args, { env = {}, input = '', cwd } = {}) {
  const fullEnv = { ...process.env, RUST_LOG: 'warn', ...env };
  // `null` in `env` unsets a variable.
  for (const [k, v] of Object.entries(fullEnv)) if (v === null) delete fullEnv[k];
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, {
      env: fullEnv,
      cwd: cwd || os.tmpdir(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command that exits before reading its input (a bad setting) closes the pipe first.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

module.exports = { startServer, testDb, sharedDatabase, runCli, BIN, PG_BASE, ROOT };
