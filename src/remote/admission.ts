/**
 * Who gets a connection slot on one listener. A connection is "pending"
 * until it sends an accepted request (on TCP: one with the token); only then
 * does it take one of the maxConnections slots. Pending connections have
 * their own bounded pool, where a new connection pushes out the oldest, and
 * must send a complete request head within headTimeoutMs: idle, slow or
 * unauthenticated clients can neither hold a slot nor keep anyone out.
 * The head timer runs only while no response is in flight: requests can be
 * pipelined, and a follow queued behind another response must not be cut.
 */
import type { Socket } from 'node:net';
import { ProtocolError, STATUS } from './protocol.js';

export interface AdmissionLimits {
  /** Connections that sent an accepted request, served at once. */
  maxConnections: number;
  /** Of those, from one client (TCP: one remote address). */
  maxPerClient: number;
  /** Connections that have not sent an accepted request yet; beyond it the oldest is closed. */
  maxPending: number;
  /** Time to send a complete request head, from connecting or from the end of the previous response. */
  headTimeoutMs: number;
}

interface Conn {
  admitted: boolean;
  client: string;
  timer: NodeJS.Timeout | null;
  /** Requests whose response has not ended yet (pipelined ones queue behind the first). */
  inFlight: number;
  /** What to do once those responses are out (answer a parse error that came after them). */
  whenDone: (() => void) | null;
}

export class Admission {
  private readonly conns = new Map<Socket, Conn>();
  /** Pending connections, oldest first. */
  private readonly pending = new Set<Socket>();
  private readonly perClient = new Map<string, number>();
  private admittedCount = 0;

  constructor(private readonly limits: AdmissionLimits) {}

  /** A new connection: pending, with its head timer running. */
  connected(socket: Socket, client: string): void {
    const conn: Conn = { admitted: false, client, timer: null, inFlight: 0, whenDone: null };
    this.conns.set(socket, conn);
    this.pending.add(socket);
    socket.once('close', () => this.closed(socket));
    this.arm(socket, conn);
    if (this.pending.size > this.limits.maxPending) {
      const oldest = this.pending.values().next().value as Socket;
      this.pending.delete(oldest);
      oldest.destroy();
    }
  }

  /** A request head arrived: the timer stops until its response (and any pipelined after it) ends. */
  requestArrived(socket: Socket): void {
    const conn = this.conns.get(socket);
    if (!conn) return;
    conn.inFlight++;
    if (conn.timer) {
      clearTimeout(conn.timer);
      conn.timer = null;
    }
  }

  /** A response ended (or was cut). Once none is in flight, the next head has headTimeoutMs too. */
  responded(socket: Socket): void {
    const conn = this.conns.get(socket);
    if (!conn) return;
    conn.inFlight = Math.max(0, conn.inFlight - 1);
    if (conn.inFlight > 0 || socket.destroyed) return;
    if (conn.whenDone) conn.whenDone();
    else this.arm(socket, conn);
  }

  /** Runs `then` once the responses in flight are out (at once if there are none). */
  whenDone(socket: Socket, then: () => void): void {
    const conn = this.conns.get(socket);
    if (conn && conn.inFlight > 0) conn.whenDone ??= then;
    else then();
  }

  /** An accepted request: the connection takes a slot if it has none. Throws EBUSY when none is free. */
  admit(socket: Socket): void {
    const conn = this.conns.get(socket);
    if (!conn || conn.admitted) return;
    const fromClient = this.perClient.get(conn.client) ?? 0;
    if (this.admittedCount >= this.limits.maxConnections) {
      throw new ProtocolError('EBUSY', `the server serves ${this.limits.maxConnections} connections at once; try again later`);
    }
    if (fromClient >= this.limits.maxPerClient) {
      throw new ProtocolError('EBUSY', `${this.limits.maxPerClient} connections from one client at once at most`);
    }
    conn.admitted = true;
    this.pending.delete(socket);
    this.admittedCount++;
    this.perClient.set(conn.client, fromClient + 1);
  }

  private arm(socket: Socket, conn: Conn): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => timedOut(socket), this.limits.headTimeoutMs);
    conn.timer.unref();
  }

  private closed(socket: Socket): void {
    const conn = this.conns.get(socket);
    if (!conn) return;
    this.conns.delete(socket);
    this.pending.delete(socket);
    if (conn.timer) clearTimeout(conn.timer);
    if (conn.admitted) {
      this.admittedCount--;
      const n = (this.perClient.get(conn.client) ?? 1) - 1;
      if (n > 0) this.perClient.set(conn.client, n);
      else this.perClient.delete(conn.client);
    }
  }
}

/** No complete request head in time: a 408 if the socket takes it, and the connection is closed either way. */
function timedOut(socket: Socket): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(new ProtocolError('ETIMEDOUT', 'no complete request line and headers in time').body());
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${STATUS.ETIMEDOUT} Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  // A client that does not read cannot keep the socket open by not taking the 408.
  setTimeout(() => socket.destroy(), 1000).unref();
}
