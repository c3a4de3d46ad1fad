/**
 * Buffer fill level over time, sampled by record beside the per-buffer
 * files (fill.jsonl: one JSON line per sample), on the klog clock so the
 * export can draw it under the records as a counter track.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';

export const FILL_SAMPLES_NAME = 'fill.jsonl';

export interface FillSample {
  /** Nanoseconds on the klog clock (CLOCK_MONOTONIC). */
  t: number;
  /** Per buffer file name: finished sub-buffers not yet read, as a fraction of the buffer. */
  fill: Record<string, number>;
}

/** The samples of a fill.jsonl file; nothing when there is none. A line cut short by a crash is skipped. */
export async function* readFillSamples(path: string): AsyncGenerator<FillSample> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = await new Promise<boolean>((resolve) => {
    stream.once('open', () => resolve(true));
    stream.once('error', () => resolve(false));
  });
  if (!opened) return;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    let sample: FillSample;
    try {
      sample = JSON.parse(line) as FillSample;
    } catch {
      continue;
    }
    if (typeof sample?.t === 'number' && sample.fill && typeof sample.fill === 'object') yield sample;
  }
}

/** Appends samples; writes are queued one after another and never block recording. */
export class FillSampleWriter {
  private readonly fh: FileHandle;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(fh: FileHandle) {
    this.fh = fh;
  }

  add(sample: FillSample): void {
    const line = JSON.stringify(sample) + '\n';
    this.chain = this.chain.then(() => this.fh.write(line)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh.close();
  }
}
