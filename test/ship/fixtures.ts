/** Recorded directories for the ship tests: cpu0, cpu1 of klog records of many sizes (deterministic). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRecord } from '../../src/klog/index.js';

export function recordedDirFiles(dir: string, records: number): string {
  for (const cpu of [0, 1]) {
    const parts: Uint8Array[] = [];
    for (let seq = 0; seq < records; seq++) {
      const text = `buffer ${cpu} record ${seq} ` + 'x'.repeat((seq * 37) % 700);
      parts.push(encodeRecord({ type: 'text', timestamp: 1_000_000 + seq * 1000 + cpu, seq, thread: cpu + 1, buffer: cpu }, text));
    }
    writeFileSync(join(dir, `cpu${cpu}`), Buffer.concat(parts));
  }
  return dir;
}
