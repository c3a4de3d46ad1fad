/** Raw HTTP helpers for the remote tests: no client library, no URL normalisation. */
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export type Where = { socketPath: string } | { host: string; port: number };

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: NodeJS.Dict<string>;
  body: Buffer;
}

/** A GET with the target sent exactly as given. */
export function get(where: Where, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ ...where, path: target, method, headers, agent: false, timeout: 10_000 });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${target}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, trailers: res.trailers, body: Buffer.concat(parts) }));
    });
    req.end();
  });
}

/** Writes raw bytes on a fresh connection and returns everything the server sends until it closes. */
export function raw(where: Where, bytes: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = 'socketPath' in where ? connect(where.socketPath) : connect(where.port, where.host);
    const parts: Buffer[] = [];
    const timer = setTimeout(() => (sock.destroy(), reject(new Error('the server neither answered nor closed'))), timeoutMs);
    sock.on('data', (d) => parts.push(d));
    sock.on('error', () => {}); // a reset after the answer is fine
    sock.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(parts).toString('latin1'))));
    sock.write(bytes);
  });
}

/** The JSON body of a raw HTTP response text. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test helper: callers pick what they read out of the JSON
export function jsonOf(text: string): any {
  const at = text.indexOf('\r\n\r\n');
  return JSON.parse(text.slice(at + 4));
}
