// A tiny declarative view layer: describe what a list should contain with `v(...)`, and `patch`
// makes the DOM match it, reusing elements by `key` and touching only what changed. There is no
// per-item "signature" to keep by hand: whatever the description says is what is shown.
//
// Like `h` in dom.js, text only ever goes in through textContent; there is no HTML path.
// Props: `key` (identity among siblings), `class`, `testid`, `text`, `dataset`, `on<event>`
// (listener), `hidden` / `disabled`, anything else as an attribute (true → empty attribute).

/** A description of one element. */
export function v(tag, props = {}, ...children) {
  const flat = [];
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else flat.push(typeof c === 'object' ? c : { text: String(c) });
  };
  children.forEach(add);
  return { tag, props: props || {}, key: props && props.key !== undefined ? String(props.key) : null, children: flat };
}

/** Makes `parent`'s children match `vnodes` (an array of `v(...)` or `{text}` descriptions). */
export function patch(parent, vnodes) {
  const old = [...parent.childNodes];
  const byKey = new Map();
  for (const el of old) if (el.__key) byKey.set(el.__key, el);
  const used = new Set();
  let cursor = parent.firstChild;
  let index = 0;
  for (const vn of vnodes) {
    let el = null;
    if (vn.key !== null && vn.key !== undefined) {
      const cand = byKey.get(vn.key);
      if (cand && cand.__tag === vn.tag) el = cand;
    } else {
      // Unkeyed: reuse the element at this position if it is of the same kind and unkeyed.
      const cand = old[index];
      if (cand && !cand.__key && !used.has(cand) && sameKind(cand, vn)) el = cand;
    }
    if (el) update(el, vn);
    else el = create(vn);
    used.add(el);
    if (el !== cursor) parent.insertBefore(el, cursor);
    else cursor = cursor.nextSibling;
    index += 1;
  }
  for (const el of old) if (!used.has(el)) el.remove();
}

function sameKind(el, vn) {
  if (vn.tag === undefined) return el.nodeType === Node.TEXT_NODE;
  return el.nodeType === Node.ELEMENT_NODE && el.__tag === vn.tag;
}

function create(vn) {
  if (vn.tag === undefined) return document.createTextNode(vn.text);
  const el = document.createElement(vn.tag);
  el.__tag = vn.tag;
  el.__props = {};
  el.__handlers = {};
  update(el, vn);
  return el;
}

function update(el, vn) {
  if (vn.tag === undefined) {
    if (el.textContent !== vn.text) el.textContent = vn.text;
    return;
  }
  el.__key = vn.key;
  const prev = el.__props || {};
  const next = vn.props;
  for (const k of Object.keys(prev)) if (!(k in next) || next[k] === null || next[k] === undefined || next[k] === false) unset(el, k, prev[k]);
  for (const [k, val] of Object.entries(next)) {
    if (val === null || val === undefined || val === false || k === 'key') continue;
    set(el, k, val, prev[k]);
  }
  el.__props = next;
  if (!('text' in next)) patch(el, vn.children);
}

function set(el, k, val, old) {
  if (k.startsWith('on') && typeof val === 'function') {
    const type = k.slice(2);
    if (el.__handlers[type] === val) return;
    if (el.__handlers[type]) el.removeEventListener(type, el.__handlers[type]);
    el.addEventListener(type, val);
    el.__handlers[type] = val;
  } else if (k === 'class') {
    if (el.className !== val) el.className = val;
  } else if (k === 'testid') {
    if (el.dataset.testid !== val) el.dataset.testid = val;
  } else if (k === 'text') {
    if (el.textContent !== String(val)) el.textContent = String(val);
  } else if (k === 'dataset') {
    for (const key of Object.keys(old || {})) if (!(key in val)) delete el.dataset[key];
    for (const [dk, dv] of Object.entries(val)) if (el.dataset[dk] !== String(dv)) el.dataset[dk] = String(dv);
  } else if (k === 'hidden' || k === 'disabled') {
    el[k] = Boolean(val);
  } else {
    const s = val === true ? '' : String(val);
    if (el.getAttribute(k) !== s) el.setAttribute(k, s);
  }
}

function unset(el, k, old) {
  if (k.startsWith('on') && typeof old === 'function') {
    el.removeEventListener(k.slice(2), el.__handlers[k.slice(2)]);
    delete el.__handlers[k.slice(2)];
  } else if (k === 'class') el.className = '';
  else if (k === 'testid') delete el.dataset.testid;
  else if (k === 'text') el.textContent = '';
  else if (k === 'dataset') for (const key of Object.keys(old || {})) delete el.dataset[key];
  else if (k === 'hidden' || k === 'disabled') el[k] = false;
  else el.removeAttribute(k);
}
