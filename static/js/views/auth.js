// The log-in / register screen.

import { adoptSession, api } from '../api.js';
import { $ } from '../dom.js';
import { ui, formError } from '../ui.js';

export function showAuth(message) {
  $('#chat-screen').hidden = true;
  $('#auth-screen').hidden = false;
  document.title = 'Missive';
  formError($('#auth-error'), message || null);
  setAuthMode(ui.registering);
  $('#auth-username').focus();
}

export function setAuthMode(registering) {
  ui.registering = registering;
  $('#display-name-row').hidden = !registering;
  $('#auth-lead').textContent = registering ? 'Create your account' : 'Log in to your account';
  $('#auth-submit').textContent = registering ? 'Create account' : 'Log in';
  $('#auth-switch-text').textContent = registering ? 'Already have an account?' : 'New here?';
  $('#auth-toggle').textContent = registering ? 'Log in' : 'Create an account';
  $('#auth-password').autocomplete = registering ? 'new-password' : 'current-password';
}

/** Wires the form; `onLoggedIn(user)` starts the chat screen. */
export function wireAuth(onLoggedIn) {
  $('#auth-toggle').addEventListener('click', () => {
    setAuthMode(!ui.registering);
    formError($('#auth-error'), null);
  });
  $('#auth-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = $('#auth-username').value.trim();
    const password = $('#auth-password').value;
    const displayName = $('#auth-display-name').value.trim();
    const button = $('#auth-submit');
    formError($('#auth-error'), null);
    button.disabled = true;
    try {
      const body = { username, password };
      if (ui.registering && displayName) body.display_name = displayName;
      const session = await api('POST', ui.registering ? '/api/auth/register' : '/api/auth/login', body, { auth: false });
      adoptSession(session);
      $('#auth-password').value = '';
      onLoggedIn(session.user);
    } catch (err) {
      formError($('#auth-error'), err);
    } finally {
      button.disabled = false;
    }
  });
}
