#!/usr/bin/env node
// Measures how long a login takes against a running server (argon2id verification dominates):
// median and p90 of N sequential logins, for the right password, a wrong one and an unknown
// user (these two should cost the same). Usage: node scripts/login-timing.js http://127.0.0.1:4000 [N]
'use strict';

const url = process.argv[2] || 'http://127.0.0.1:4000';
const n = Number(process.argv[3] || 30);

async function post(path, body) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return { status: res.status, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
  return `median ${q(0.5)} ms, p90 ${q(0.9)} ms (n=${s.length})`;
}

(async () => {
  const username = `timing_${Date.now().toString(36)}`;
  const password = 'correct horse battery';
  const reg = await post('/api/auth/register', { username, password });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status}`);
  const cases = {
    'right password': { username, password },
    'wrong password': { username, password: 'wrong password!' },
    'unknown user  ': null,
  };
  for (const [name, fixed] of Object.entries(cases)) {
    const times = [];
    // The throttle allows 10 failures per account per 15 minutes: stay under it for the wrong
    // password, and use a new unknown name each time.
    const count = name.startsWith('wrong') ? Math.min(n, 9) : n;
    for (let i = 0; i < count; i++) {
      const body = fixed || { username: `${username}_x${i}`, password };
      times.push((await post('/api/auth/login', body)).ms);
    }
    console.log(`${name}: ${summary(times)}`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
