// The web app (static/) loads the library with no build step, from static/js/missive/: a copy of
// clients/js/src. `--write` refreshes the copy; without it, this fails when the copy differs (CI).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, '..', 'src');
const dst = path.join(here, '..', '..', '..', 'static', 'js', 'missive');
const write = process.argv.includes('--write');
const header = '// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.\n';

const files = fs.readdirSync(src).filter((f) => f.endsWith('.js')).sort();
let stale = [];
if (write) fs.mkdirSync(dst, { recursive: true });
const present = fs.existsSync(dst) ? fs.readdirSync(dst).filter((f) => f.endsWith('.js')) : [];
for (const f of files) {
  const want = header + fs.readFileSync(path.join(src, f), 'utf8');
  const target = path.join(dst, f);
  const have = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : null;
  if (have !== want) {
    if (write) fs.writeFileSync(target, want);
    else stale.push(f);
  }
}
for (const f of present) {
  if (!files.includes(f)) {
    if (write) fs.unlinkSync(path.join(dst, f));
    else stale.push(`${f} (not in src)`);
  }
}
if (stale.length) {
  console.error(`static/js/missive differs from clients/js/src: ${stale.join(', ')}\nRun 'npm run sync-static' in clients/js.`);
  process.exit(1);
}
console.log(write ? 'static/js/missive refreshed' : 'static/js/missive matches clients/js/src');
