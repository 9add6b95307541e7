/**
 * The provider runtime's outbox on disk: every event, and every log line as
 * the driver reports it, is appended to a journal before it waits for
 * JetStream, and marked done once stored there. A provider process killed
 * with events unpublished (NATS away, or between a job's last output and its
 * publish) leaves its journal behind; the next start of a provider with the
 * same directory publishes what it holds, under the same message ids, so
 * repeats are dropped (by JetStream, and by event id at the gateway).
 *
 * One file per runtime start, `outbox-<pid>-<instance>.jsonl`, one JSON entry
 * a line:
 *   {"e":{subject,msgId,body}}               an event to publish
 *   {"b":{subject,msgId,body}}               a log event opened (body without lines)
 *   {"l":[msgId,line]}                       a line of an open log event
 *   {"d":msgId}                              published
 * Appends are plain writes (no fsync): they survive the process, not the machine.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import type { JobLog } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import type { JobEvent, LogEvent } from '../../shared/protocol.js';

export interface JournalItem {
  subject: string;
  msgId: string;
  body: JobEvent | LogEvent;
}

/** A log event still collecting lines. */
export interface OpenLogEvent {
  subject: string;
  msgId: string;
  body: Omit<LogEvent, 'lines'>;
  lines: JobLog[];
}

export interface OutboxJournal {
  /** Events earlier runs left unpublished, oldest first; now carried by this journal. */
  readonly recovered: JournalItem[];
  event(item: JournalItem): void;
  open(batch: Omit<OpenLogEvent, 'lines'>): void;
  line(msgId: string, line: JobLog): void;
  done(msgId: string): void;
  /** Entries written since the file was last rewritten. */
  readonly entries: number;
  /** Start a new file holding only what is still pending, and drop the old one. */
  rewrite(pending: JournalItem[], open: OpenLogEvent[]): void;
  /** Close; the file is deleted when nothing is left to publish, else the next start publishes it. */
  close(empty: boolean): void;
}

/** Journals open in this process: another runtime here must not take them over. */
const openHere = new Set<string>();

const FILE = /^outbox-(\d+)-([A-Za-z0-9-]+)\.jsonl$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a journal file still holds to publish, in the order it was written. */
function readPending(path: string, logger: Logger): JournalItem[] {
  const items = new Map<string, JournalItem | OpenLogEvent>();
  const done = new Set<string>();
  let torn = 0;
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (text === '') continue;
    let entry: { e?: JournalItem; b?: Omit<OpenLogEvent, 'lines'>; l?: [string, JobLog]; d?: string };
    try {
      entry = JSON.parse(text);
    } catch {
      // A write cut short by the kill: only the last line can be.
      torn += 1;
      continue;
    }
    if (entry.e) items.set(entry.e.msgId, entry.e);
    else if (entry.b) items.set(entry.b.msgId, { ...entry.b, lines: [] });
    else if (entry.l) {
      const batch = items.get(entry.l[0]);
      if (batch && 'lines' in batch) batch.lines.push(entry.l[1]);
    } else if (entry.d) done.add(entry.d);
  }
  if (torn > 0) logger.warn({ path, torn }, 'outbox journal had unreadable lines; skipped');
  const pending: JournalItem[] = [];
  for (const item of items.values()) {
    if (done.has(item.msgId)) continue;
    if ('lines' in item) {
      if (item.lines.length > 0) pending.push({ subject: item.subject, msgId: item.msgId, body: { ...item.body, lines: item.lines } as LogEvent });
    } else {
      pending.push(item);
    }
  }
  return pending;
}

/**
 * Open this start's journal in `dir`, first reading what journals of processes that are gone
 * left unpublished (see {@link OutboxJournal.recovered}); those files are deleted once this
 * journal holds their events.
 */
export function openOutboxJournal(dir: string, instanceId: string, logger: Logger): OutboxJournal & { adopted(): void } {
  mkdirSync(dir, { recursive: true });
  const leftovers: { path: string; mtime: number }[] = [];
  for (const name of readdirSync(dir)) {
    const match = FILE.exec(name);
    if (!match) continue;
    const path = join(dir, name);
    const pid = Number(match[1]);
    if (openHere.has(path) || (pid !== process.pid && processAlive(pid))) continue;
    leftovers.push({ path, mtime: statSync(path).mtimeMs });
  }
  leftovers.sort((a, b) => a.mtime - b.mtime);
  const seen = new Set<string>();
  const recovered: JournalItem[] = [];
  for (const { path } of leftovers) {
    for (const item of readPending(path, logger)) {
      if (seen.has(item.msgId)) continue;
      seen.add(item.msgId);
      recovered.push(item);
    }
  }

  let path = join(dir, `outbox-${process.pid}-${instanceId}.jsonl`);
  openHere.add(path);
  let fd = openSync(path, 'a');
  let buffer = '';
  let entries = 0;
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    if (buffer === '' || fd < 0) return;
    const data = buffer;
    buffer = '';
    try {
      writeSync(fd, data);
    } catch (error) {
      logger.error({ err: error, path }, 'could not write the outbox journal; events wait in memory only');
    }
  };
  const append = (entry: unknown, now: boolean) => {
    buffer += `${JSON.stringify(entry)}\n`;
    entries += 1;
    // An event is on disk before the driver's own record of it can be (the driver saves after it emits,
    // asynchronously); lines and done marks go with it, or on the next turn of the loop.
    if (now) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  return {
    recovered,
    get entries() {
      return entries;
    },
    event: (item) => append({ e: item }, true),
    open: (batch) => append({ b: batch }, false),
    line: (msgId, line) => append({ l: [msgId, line] }, false),
    done: (msgId) => append({ d: msgId }, false),
    adopted() {
      // This journal holds them now (they were enqueued, so written): the old files can go.
      flush();
      for (const { path: old } of leftovers) {
        try {
          unlinkSync(old);
        } catch (error) {
          logger.warn({ err: error, path: old }, 'could not remove an adopted outbox journal');
        }
      }
    },
    rewrite(pending, open) {
      flush();
      const next = `${path}.next`;
      const lines: string[] = [];
      for (const item of pending) lines.push(JSON.stringify({ e: item }));
      for (const batch of open) {
        const { lines: batchLines, ...head } = batch;
        lines.push(JSON.stringify({ b: head }));
        for (const line of batchLines) lines.push(JSON.stringify({ l: [batch.msgId, line] }));
      }
      const nextFd = openSync(next, 'w');
      try {
        if (lines.length > 0) writeSync(nextFd, `${lines.join('\n')}\n`);
      } finally {
        closeSync(nextFd);
      }
      // rename: a kill leaves the old file or the new one, never neither.
      closeSync(fd);
      renameSync(next, path);
      fd = openSync(path, 'a');
      entries = lines.length;
    },
    close(empty) {
      flush();
      if (fd >= 0) closeSync(fd);
      fd = -1;
      openHere.delete(path);
      if (empty) {
        try {
          unlinkSync(path);
          // And the directory, when nothing else is in it (it is made again at the next start).
          rmdirSync(dir);
        } catch {
          // Already gone, or other journals (or a mount) keep it.
        }
      }
      path = '';
    },
  };
}
