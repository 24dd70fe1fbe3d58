// Privacy and safety in the web app (docs/protocol.md §14), wired from one place: blocking and the
// privacy settings (privacy.js), reports (report.js), group invite links (invites.js) and the
// channel directory (directory.js). app.js calls `wireSafety` once at boot and `startSafety` for
// each signed-in session.

import { ui } from '../ui.js';
import { renderComposerState } from './composer.js';
import { renderHeader } from './conversation.js';
import { wireDirectory } from './directory.js';
import { openInviteFromUrl, resetInvites, wireInvites } from './invites.js';
import { renderPanel } from './panel.js';
import { renderBlocked, renderPrivacy, wirePrivacy } from './privacy.js';
import { wireReport } from './report.js';

export function wireSafety() {
  wirePrivacy();
  wireReport();
  wireInvites();
  wireDirectory();
}

/** Follows a new session's blocks and settings, and opens an invite link it was started with. */
export function startSafety(client) {
  resetInvites();
  client.addEventListener('blocks', () => {
    if (ui.client !== client) return;
    renderBlocked();
    if (ui.openRoomId) {
      renderHeader();
      renderComposerState();
      if (ui.panelOpen) renderPanel();
    }
  });
  client.addEventListener('privacy', () => {
    if (ui.client === client) renderPrivacy();
  });
  openInviteFromUrl();
}
