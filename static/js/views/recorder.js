// Voice notes: the 🎤 button asks for the microphone (only then, never before), records with
// MediaRecorder (Opus in WebM where the browser has it), shows the time with Cancel and Send,
// and sends the recording as a file (views/uploads.js: progress, errors, retry). Recording stops
// by itself after MAX_SECONDS.

import { $ } from '../dom.js';
import { ui, toast } from '../ui.js';
import { sendFile } from './uploads.js';

/** Longest voice note, seconds. */
export const MAX_SECONDS = 300;

const TYPES = ['audio/webm;codecs=opus', 'audio/webm', 'audio/mp4', 'audio/ogg;codecs=opus'];

/** The recording under way: {recorder, stream, chunks, roomId, started, timer, send}. */
let rec = null;

function extension(type) {
  if (type.startsWith('audio/mp4')) return 'm4a';
  if (type.startsWith('audio/ogg')) return 'ogg';
  return 'weba';
}

function fileName(type, at) {
  const p = (n) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  return `voice-note-${stamp}.${extension(type)}`;
}

export function isRecording() {
  return Boolean(rec);
}

async function start() {
  if (rec || !ui.client || !ui.openRoomId) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof MediaRecorder === 'undefined') {
    toast('This browser cannot record audio.', 'error');
    return;
  }
  const roomId = ui.openRoomId;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    const refused = err && (err.name === 'NotAllowedError' || err.name === 'SecurityError');
    toast(refused ? 'The microphone was not allowed. Allow it in the browser to record a voice note.' : `No microphone could be opened (${err && err.name}).`, 'error');
    return;
  }
  if (rec || ui.openRoomId !== roomId) {
    for (const t of stream.getTracks()) t.stop();
    return;
  }
  const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
  rec = { recorder, stream, chunks: [], roomId, started: Date.now(), timer: null, send: false };
  const mine = rec;
  recorder.addEventListener('dataavailable', (e) => {
    if (e.data && e.data.size) mine.chunks.push(e.data);
  });
  recorder.addEventListener('stop', () => finish(mine));
  recorder.start(250);
  mine.timer = setInterval(tick, 250);
  $('#composer').classList.add('recording');
  $('#recorder').hidden = false;
  tick();
  $('#recorder-send').focus();
}

function tick() {
  if (!rec) return;
  const s = Math.floor((Date.now() - rec.started) / 1000);
  $('#recorder-time').textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  if (s >= MAX_SECONDS) stop(true);
}

/** Ends the recording; `send` uploads and sends it, else it is thrown away. */
export function stop(send) {
  if (!rec) return;
  const r = rec;
  r.send = send;
  rec = null;
  clearInterval(r.timer);
  $('#composer').classList.remove('recording');
  $('#recorder').hidden = true;
  $('#recorder-time').textContent = '0:00';
  if (r.recorder.state !== 'inactive') r.recorder.stop();
  else finish(r);
  $('#composer-input').focus();
}

function finish(r) {
  for (const t of r.stream.getTracks()) t.stop();
  if (!r.send || !ui.client) return;
  const type = (r.recorder.mimeType || r.chunks[0]?.type || 'audio/webm').split(';')[0];
  const blob = new Blob(r.chunks, { type });
  if (!blob.size) {
    toast('Nothing was recorded.', 'error');
    return;
  }
  sendFile(r.roomId, new File([blob], fileName(type, new Date(r.started)), { type }));
}

export function wireRecorder() {
  $('#mic-button').addEventListener('click', () => start());
  $('#recorder-send').addEventListener('click', () => stop(true));
  $('#recorder-cancel').addEventListener('click', () => stop(false));
  $('#recorder').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      stop(false);
    }
  });
}
