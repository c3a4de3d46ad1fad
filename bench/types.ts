// The contract between the harness and a benchmark case.

/** Families decide how a case is compared: the subject family is divided by the others. */
/** 'scaling' cases (several writer threads, or more memory than the rings) are reported but never in the one-writer ratios. */
/** 'first-lap' cases write into memory never touched before; they are reported, never a baseline. */
export type Family = 'copy-limit' | 'reference' | 'peer' | 'relayfs' | 'scaling' | 'klog' | 'first-lap';

/** How long one measurement lasts. The producer stops at whichever limit comes first. */
export interface RunOptions {
  durationMs: number;
  maxMessages: number;
  /** The harness gives up on a run after this long and reports it as failed. */
  timeoutMs: number;
}

/** One measurement of one case at one message size. */
export interface RunResult {
  /** Messages delivered to (and checked by) the consumer. */
  messages: number;
  /** Payload bytes delivered: messages × size. */
  bytes: number;
  /** From the producer's first message to the consumer's last one. */
  seconds: number;
  /** False if any count, sequence number or stamp did not match. */
  verified: boolean;
  /** Messages the transport dropped on purpose and accounted for (overwrite modes). */
  dropped?: number;
  note?: string;
}

export interface BenchCase {
  /** Unique, kebab-case; used by --cases and as the legend label. */
  name: string;
  family: Family;
  /** One line: what is measured. */
  description: string;
  /** Message sizes in bytes this case supports. */
  sizes: readonly number[];
  /**
   * Also report this case's median ÷ that of case `name` at each size both ran, against a target
   * (klog-off ÷ empty-call: at least 0.5, a disabled trace point costs at most two empty calls).
   * Without atLeast the ratio is reported with no target.
   */
  versus?: { name: string; atLeast?: number };
  run(size: number, opts: RunOptions): Promise<RunResult>;
}

/** The standard message sizes, in bytes. */
export const SIZES: readonly number[] = [16, 64, 256, 4096, 65536];

/** Shared-memory capacity used by every ring and by the copy limit, so they compare like for like. */
export const RING_BYTES = 4 * 1024 * 1024;
