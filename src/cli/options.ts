/** Option parsers shared by the subcommands: bad values fail with commander's one-line error. */
import { InvalidArgumentError } from 'commander';

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number above 0.');
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number above 0.');
  return n;
}

/** Sizes like 4096, 64k, 1m. */
export function size(value: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be a size such as 4096, 64k or 1m.');
  const n = Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1024 * 1024);
  if (n <= 0) throw new InvalidArgumentError('must be above 0.');
  return n;
}
