// Reporting a message (its "⋯" menu) or a person (a direct chat's "⋮" menu or contact panel) to
// the server's operators (docs/protocol.md §14, `POST /api/reports`): a reason picked from a
// short list, optional details, and a confirmation once the server has it.

import { $, h } from '../dom.js';
import { ui, toast, formError } from '../ui.js';
import { quoteText } from './conversation.js';

const REASONS = [
  ['spam', 'Spam'],
  ['abuse', 'Harassment or abuse'],
  ['inappropriate', 'Inappropriate content'],
  ['other', 'Something else'],
];
const MAX_REASON = 500;

let target = null; // {message} or {userId}

/** Whether the signed-in user may report `m` (someone else's message that still has a body). */
export function canReport(c, m) {
  return Boolean(m && m.kind === 'text' && !m.deleted_at && !m.hidden && m.sender_id !== c.me.id);
}

/** Opens the report dialog for a message (`{message}`) or a person (`{userId}`). */
export function openReport(what) {
  const c = ui.client;
  if (!c) return;
  target = what;
  const m = what.message;
  const name = c.displayName(m ? m.sender_id : what.userId);
  $('#dlg-report-title').textContent = m ? `Report a message from ${name}` : `Report ${name}`;
  const quote = $('#report-quote');
  quote.hidden = !m;
  quote.textContent = m ? quoteText(c, m) : '';
  $('#report-hint').textContent = m
    ? `The server’s operators get your report with this message as it is now. ${name} is not told who reported it.`
    : `The server’s operators get your report. ${name} is not told who reported them.`;
  for (const el of $('#report-form').querySelectorAll('input[name="reason"]')) el.checked = false;
  $('#report-details').value = '';
  formError($('#report-error'), null);
  $('#dlg-report').showModal();
  $('#report-form input[name="reason"]').focus();
}

function buildDialog() {
  const dlg = h('dialog', { id: 'dlg-report', testid: 'dialog-report', 'aria-labelledby': 'dlg-report-title', 'aria-describedby': 'report-hint' },
    h('form', { class: 'dialog-form', id: 'report-form', novalidate: true },
      h('h2', { id: 'dlg-report-title', text: 'Report' }),
      h('blockquote', { class: 'receipt-quote', id: 'report-quote', testid: 'report-quote', hidden: true }),
      h('fieldset', { class: 'kind choices' },
        h('legend', { text: 'Reason' }),
        REASONS.map(([value, label]) => h('label', {},
          h('input', { type: 'radio', name: 'reason', value, testid: `report-reason-${value}`, dataset: { label } }), ` ${label}`))),
      h('label', { for: 'report-details' }, 'Details ', h('span', { class: 'optional', text: '(optional)' })),
      h('textarea', { id: 'report-details', testid: 'report-details', rows: '3', maxlength: String(MAX_REASON - 40) }),
      h('p', { class: 'hint', id: 'report-hint' }),
      h('p', { class: 'form-error', id: 'report-error', testid: 'report-error', role: 'alert', hidden: true }),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', id: 'report-cancel', testid: 'report-cancel', text: 'Cancel' }),
        h('button', { type: 'submit', class: 'primary', id: 'report-submit', testid: 'report-submit', text: 'Send report' }))));
  document.body.append(dlg);
}

export function wireReport() {
  buildDialog();
  $('#report-cancel').addEventListener('click', () => $('#dlg-report').close());
  $('#report-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const c = ui.client;
    const what = target;
    if (!c || !what) return;
    const picked = $('#report-form input[name="reason"]:checked');
    if (!picked) {
      formError($('#report-error'), 'invalid: choose a reason.');
      return;
    }
    const details = $('#report-details').value.trim();
    const reason = (details ? `${picked.dataset.label}: ${details}` : picked.dataset.label).slice(0, MAX_REASON);
    const body = what.message
      ? { room_id: what.message.room_id, seq: what.message.seq, reason }
      : { user_id: what.userId, reason };
    const button = $('#report-submit');
    formError($('#report-error'), null);
    button.disabled = true;
    try {
      await c.report(body);
      $('#dlg-report').close();
      toast('Report sent. Thank you: the operators will look at it.', 'info');
    } catch (err) {
      formError($('#report-error'), err);
    } finally {
      button.disabled = false;
    }
  });
}
