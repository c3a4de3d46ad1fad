/**
 * Defaults shared by layers that must agree on them. Pure code.
 */

/**
 * How long a following reader (chunks, sendfile, a remote follow, record)
 * lets data of a partly filled sub-buffer wait before it reads it anyway, ms.
 */
export const DEFAULT_LATENCY_MS = 50;
