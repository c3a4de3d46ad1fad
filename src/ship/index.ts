/** Shipping relay data to NATS JetStream, and reading it back into record's on-disk layout. */
export { ship, type ShipOptions, type ShipSummary, type ShipBufferSummary } from './ship.js';
export { recordFromNats, type NatsRecordOptions, type NatsRecordSummary } from './record-back.js';
export { ShipError, parseNatsUrl, DEFAULT_STREAM, DEFAULT_PREFIX, type NatsUrl } from './nats.js';
export { dataSubject, countersSubject, messageId, type ShippedCounters, type BufferAddress } from './subjects.js';
