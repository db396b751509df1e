// The flows' subscription to the transfer events: each outcome counted once, when it happens — a
// transfer allowed (its record created), denied (no record: the decision), quarantined, refused by the
// peer gateway, received. Bytes are the manifest's declared size.
import type { TransferEvent } from '../transfer/transfer-events.js';
import { dayOf, type FlowCounts, type FlowOutcome } from './flow-counts.js';

const OUTCOME_OF_CHANGE: Readonly<Record<string, FlowOutcome>> = { authorized: 'allowed', quarantined: 'quarantined', 'refused-by-peer': 'refused-by-peer', received: 'received' };

export function countFlows(flows: FlowCounts, clock: () => Date): (event: TransferEvent) => Promise<void> {
  return async (event) => {
    if (event.type === 'refused') {
      const { input } = event.decision;
      await flows.add({ day: dayOf(clock()), category: input.category, direction: input.direction, outcome: 'denied', sender: input.sender, recipient: input.recipient }, input.sizeBytes);
      return;
    }
    if (event.type !== 'changed') return;
    const outcome = OUTCOME_OF_CHANGE[event.change];
    if (!outcome) return;
    const { record } = event;
    await flows.add(
      { day: dayOf(clock()), category: record.manifest.dataset.category, direction: record.decision.input.direction, outcome, sender: record.sender, recipient: record.recipient },
      record.manifest.dataset.sizeBytes,
    );
  };
}
