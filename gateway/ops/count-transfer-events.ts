// The metrics' subscription to the transfer events: one count per event, by its name.
import type { TransferEvent } from '../transfer/transfer-events.js';
import type { GatewayMetrics } from './metrics.js';

export function countTransferEvents(metrics: Pick<GatewayMetrics, 'transferEvents'>): (event: TransferEvent) => void {
  return (event) => {
    metrics.transferEvents.inc({ event: event.type === 'changed' ? event.change : event.type === 'downloaded' ? 'downloaded' : 'policy-denied' });
  };
}
