/**
 * The viewer page of a VNC session: noVNC on the session's websocket, RFB over binary messages
 * (subprotocol `binary`, docs/SESSIONS.md). The credential in the URL is the authentication: a
 * display that asks for a password has none to get.
 */
import './style-nonce.js';

import RFB from './novnc/core/rfb.js';
import { sessionSocketUrl, showState } from './session-page.js';

const rfb = new RFB(document.getElementById('screen'), sessionSocketUrl(), { wsProtocols: ['binary'] });
rfb.scaleViewport = true;
rfb.focusOnClick = true;
let connected = false;

rfb.addEventListener('connect', () => {
  connected = true;
  showState('open', 'Connected');
  rfb.focus();
});
rfb.addEventListener('desktopname', (event) => {
  document.title = `${event.detail.name} · Switchyard`;
});
rfb.addEventListener('credentialsrequired', () => {
  showState('ended', 'The display asks for a password; Switchyard gives none (the session URL is the credential).');
  rfb.disconnect();
});
rfb.addEventListener('securityfailure', (event) => {
  showState('ended', `The display refused the connection: ${event.detail.reason || `security failure ${event.detail.status}`}.`);
});
rfb.addEventListener('disconnect', (event) => {
  if (document.body.dataset.state === 'ended') return;
  if (!connected) showState('refused', 'Could not connect: the gateway refused the session or cannot be reached. Reload the page to see why.');
  else showState('ended', event.detail.clean ? 'The session ended.' : 'The connection to the display was lost.');
});
