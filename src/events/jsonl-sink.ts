import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';

import type { EventSink } from './bus.js';
import type { SecurityEvent } from './schema.js';

/**
 * Writes events as JSON lines to a file (appending) or to stdout. It is the interim event
 * record; the tamper-evident audit log replaces it.
 */
export class JsonLinesSink implements EventSink {
  readonly name = 'jsonl';
  private readonly stream: NodeJS.WritableStream;
  private readonly ownsStream: boolean;

  constructor(target: 'stdout' | string) {
    if (target === 'stdout') {
      this.stream = process.stdout;
      this.ownsStream = false;
    } else {
      mkdirSync(dirname(target), { recursive: true });
      this.stream = createWriteStream(target, { flags: 'a' });
      this.ownsStream = true;
    }
  }

  async write(events: readonly SecurityEvent[]): Promise<void> {
    let chunk = '';
    for (const event of events) chunk += `${JSON.stringify(event)}\n`;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (!this.ownsStream) return;
    const file = this.stream as WriteStream;
    await new Promise<void>((resolve) => file.end(resolve));
  }
}
