// Several Missive nodes on one Postgres database, joined by one cluster bus, for the cluster
// suites: `forEachBus` runs a suite once per bus (MISSIVE_BUS=postgres, then redis with a
// MISSIVE_REDIS_PREFIX of its own). Postgres run of the suite only (MISSIVE_TEST_DB=postgres).
//
// Without Redis the Redis runs are a loud skip, except in CI (CI=true) where they fail:
// scripts/test.sh starts Redis.
'use strict';

const { describe, it, before, after } = require('node:test');
const crypto = require('node:crypto');
const { startServer } = require('./server');
const { REDIS_URL, redisAvailable, redisPrefix } = require('./redis');

const BUSES = ['postgres', 'redis'];
const PG_BASE = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';

/**
 * @typedef {object} ClusterCtx
 * @property {'postgres'|'redis'} bus
 * @property {Array<{url: string, stop: Function, kill: Function, logs: () => string, pid: number}>} nodes
 * @property {Record<string, string>} env the environment every node shares
 * @property {string|null} skip why this run is skipped, if it is
 * @property {(name: string, optsOrFn: any, fn?: (t: any) => Promise<void>) => void} it a test of
 *   this run (`it(name, fn)` or `it(name, {todo, timeout}, fn)`)
 * @property {(extra?: object) => Promise<any>} startNode another node of this cluster
 */

/**
 * Defines `title` once per bus; `body(ctx)` defines its tests with `ctx.it`, and finds the
 * running nodes in `ctx.nodes` (started before the first test, stopped after the last).
 * @param {string} title
 * @param {{nodes?: number, env?: Record<string, string>}} opts
 * @param {(ctx: ClusterCtx) => void} body
 */
function forEachBus(title, opts, body) {
  const count = opts.nodes || 2;
  for (const bus of BUSES) {
    describe(`${title} (MISSIVE_BUS=${bus})`, () => {
      /** @type {ClusterCtx} */
      const ctx = {
        bus,
        nodes: [],
        env: {},
        skip: null,
        it: (name, optsOrFn, maybeFn) => {
          const fn = typeof optsOrFn === 'function' ? optsOrFn : maybeFn;
          const testOpts = typeof optsOrFn === 'function' ? {} : optsOrFn;
          it(name, testOpts, async (t) => {
            if (ctx.skip) {
              t.skip(ctx.skip);
              return;
            }
            await fn(t);
          });
        },
        startNode: async (extra = {}) => {
          const node = await startServer({ env: { ...ctx.env, ...extra } });
          ctx.nodes.push(node);
          return node;
        },
      };
      before(async () => {
        if (bus === 'redis' && !(await redisAvailable())) {
          const why = `Redis is not answering at ${REDIS_URL}`;
          if (process.env.CI === 'true') throw new Error(`${why}; CI must run the MISSIVE_BUS=redis cluster tests`);
          ctx.skip = why;
          process.stderr.write(`\n*** SKIPPED: ${why}: the MISSIVE_BUS=redis runs of "${title}" are skipped (scripts/test.sh starts Redis) ***\n\n`);
          return;
        }
        ctx.env = {
          DATABASE_URL: `${PG_BASE}/missive_cluster_${crypto.randomBytes(5).toString('hex')}`,
          MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
          MISSIVE_PRESENCE_GRACE: '200ms',
          MISSIVE_BUS: bus,
          ...(bus === 'redis' ? { MISSIVE_REDIS_URL: REDIS_URL, MISSIVE_REDIS_PREFIX: redisPrefix() } : {}),
          ...(opts.env || {}),
        };
        // The first node creates the database and drops it when it stops (the last).
        ctx.nodes.push(await startServer({ env: ctx.env, dropDatabase: true }));
        for (let i = 1; i < count; i++) ctx.nodes.push(await startServer({ env: ctx.env }));
      });
      after(async () => {
        for (const node of [...ctx.nodes].reverse()) await node.stop();
      });
      body(ctx);
    });
  }
}

/** `GET path` of a node: `{status, text}`. */
async function httpGet(node, path) {
  const res = await fetch(node.url + path);
  return { status: res.status, text: await res.text() };
}

/** The value of a Prometheus metric (no labels) on a node, or null. */
async function metric(node, name) {
  const { text } = await httpGet(node, '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : null;
}

/** The port a node listens on (its connections to the bus are named `missive-bus-127.0.0.1:{port}`). */
function busName(node) {
  return `missive-bus-${new URL(node.url).host}`;
}

module.exports = { forEachBus, httpGet, metric, busName, BUSES };
