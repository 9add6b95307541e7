/**
 * The terminal page of a SHELL session: xterm.js over the session's websocket, speaking
 * v5.channel.k8s.io (docs/SESSIONS.md): keys go out on stdin (0), stdout (1) and stderr (2) are
 * shown, the terminal's size goes out as a resize (4) whenever the window changes it, and the
 * Status on the error channel (3) tells how the session ended, its exit code shown.
 */
import './style-nonce.js';

import { closeReason, sessionSocketUrl, showState } from './session-page.js';
import { FitAddon } from './xterm/addon-fit.mjs';
import { Terminal } from './xterm/xterm.mjs';

const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const terminal = new Terminal({ cursorBlink: true, scrollback: 5000, fontFamily: 'monospace' });
const fit = new FitAddon();
terminal.loadAddon(fit);
terminal.open(document.getElementById('screen'));
fit.fit();

const socket = new WebSocket(sessionSocketUrl(), ['v5.channel.k8s.io']);
socket.binaryType = 'arraybuffer';
let opened = false;
/** The metav1.Status the session ended with, once it came. */
let status = null;

function send(channel, payload) {
  if (socket.readyState !== WebSocket.OPEN) return;
  const message = new Uint8Array(payload.length + 1);
  message[0] = channel;
  message.set(payload, 1);
  socket.send(message);
}

function sendSize() {
  document.getElementById('size').textContent = `${terminal.cols}×${terminal.rows}`;
  send(CHANNEL.resize, encoder.encode(JSON.stringify({ Width: terminal.cols, Height: terminal.rows })));
}

/** The exit code a Status carries: 0 for Success, the ExitCode cause for NonZeroExitCode, else null. */
function exitCodeOf(result) {
  if (result?.status === 'Success') return 0;
  const cause = result?.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause ? Number(cause.message) : null;
}

terminal.onData((data) => send(CHANNEL.stdin, encoder.encode(data)));
// Keys xterm.js reports as bytes, not text (some mouse reports).
terminal.onBinary((data) =>
  send(
    CHANNEL.stdin,
    Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff),
  ),
);
terminal.onResize(sendSize);
new ResizeObserver(() => fit.fit()).observe(document.getElementById('screen'));

socket.addEventListener('open', () => {
  opened = true;
  showState('open', 'Connected');
  sendSize();
  terminal.focus();
});

socket.addEventListener('message', (event) => {
  const bytes = new Uint8Array(event.data);
  const payload = bytes.subarray(1);
  if (bytes[0] === CHANNEL.stdout || bytes[0] === CHANNEL.stderr) terminal.write(payload);
  else if (bytes[0] === CHANNEL.error) {
    try {
      status = JSON.parse(decoder.decode(payload));
    } catch {
      status = { status: 'Failure', message: 'the gateway sent a Status that is not JSON' };
    }
  }
});

socket.addEventListener('close', (event) => {
  terminal.options.disableStdin = true;
  terminal.options.cursorBlink = false;
  if (!opened) {
    // A browser never tells a page why an upgrade was refused; reloading the page asks the gateway again.
    showState('refused', 'Could not connect: the gateway refused the session or cannot be reached. Reload the page to see why.');
    return;
  }
  const code = exitCodeOf(status);
  if (code !== null) showState('ended', `The shell exited with code ${code}.`, { exitCode: code });
  else showState('ended', `The session ended: ${status?.message ?? `the connection closed${closeReason(event)}`}.`);
});
