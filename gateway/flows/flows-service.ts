// What officers, admins and regulators may read of the flows: a period's transfers and bytes by
// outcome, summed by data category, direction and day or week (GET /v1/flows, and the console's
// overview, which shows exactly these numbers). Roles and the query are checked here.
import { GatewayError } from '../errors.js';
import { requireRole, type Role } from '../identity/require-role.js';
import type { FlowCounts, FlowSummary } from './flow-counts.js';

const READERS: readonly Role[] = ['security-officer', 'admin', 'regulator'];
const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** A longer period is several queries: it bounds what one summary sums. */
export const MAX_FLOW_PERIOD_DAYS = 731;

export interface FlowsRequest {
  readonly from: string;
  readonly to: string;
  readonly bucket?: 'day' | 'week';
  readonly institution?: string;
}

export interface FlowsAnswer extends FlowSummary {
  readonly from: string;
  readonly to: string;
  readonly bucket: 'day' | 'week';
  readonly institution?: string;
}

const isCalendarDay = (day: string): boolean => {
  if (typeof day !== 'string' || !DAY.test(day)) return false;
  const date = new Date(`${day}T00:00:00Z`);
  // Month 13 is no date at all; 2026-02-30 is one, but another day.
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(day);
};

export function createFlowsService(deps: { readonly flows: FlowCounts }) {
  return {
    /**
     * @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN, ERR_REQUEST_INVALID (not a calendar day, from after to, a period over two years)
     */
    async summary(caller: { readonly role: Role }, request: FlowsRequest): Promise<FlowsAnswer> {
      requireRole(caller, READERS, 'the flows');
      for (const [name, day] of [['from', request.from], ['to', request.to]] as const) {
        if (!isCalendarDay(day)) throw new GatewayError('ERR_REQUEST_INVALID', `${name} must be a calendar day YYYY-MM-DD, not "${day}"`);
      }
      const days = (Date.parse(request.to) - Date.parse(request.from)) / 86_400_000 + 1;
      if (days < 1) throw new GatewayError('ERR_REQUEST_INVALID', `from (${request.from}) is after to (${request.to})`);
      if (days > MAX_FLOW_PERIOD_DAYS) throw new GatewayError('ERR_REQUEST_INVALID', `a period of ${days} days is over the ${MAX_FLOW_PERIOD_DAYS} one summary answers`);
      const bucket = request.bucket ?? 'day';
      const query = { from: request.from, to: request.to, bucket, ...(request.institution ? { institution: request.institution } : {}) };
      return { ...query, ...(await deps.flows.summary(query)) };
    },
  };
}

export type FlowsService = ReturnType<typeof createFlowsService>;
