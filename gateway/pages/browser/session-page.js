/** What both pages share: the websocket URL of the page's session, and the state line in the header. */

/** The page's own URL as a websocket's: same origin, same path and credential, so it goes nowhere else. */
export function sessionSocketUrl() {
  const url = new URL(window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  return url.toString();
}

const statusLine = () => document.getElementById('status');

/** Shows the session's state (`connecting`, `open`, `ended`, `refused`) and a sentence about it; data attributes for scripts. */
export function showState(state, text, data = {}) {
  const line = statusLine();
  line.textContent = text;
  line.dataset.state = state;
  for (const [key, value] of Object.entries(data)) line.dataset[key] = String(value);
  document.body.dataset.state = state;
}

/** The text of a close reason, or nothing. */
export function closeReason(event) {
  return event.reason ? ` (${event.reason})` : '';
}
