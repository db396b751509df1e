// What the audit journal records of a reload of the registry, the TLS material or the policies: who
// asked (an officer through the API, or the gateway itself on SIGHUP or a file change) and the
// revisions before and after, or why the new version was refused.
import type { AuditActor, AuditEvent } from '../audit/audit-entry.js';

/** Triggers `officer:<person id>` are reloads an officer asked for (policy-service.ts). */
export function reloadActor(trigger: string): AuditActor {
  return trigger.startsWith('officer:') ? { kind: 'person', id: trigger.slice('officer:'.length) } : { kind: 'gateway', id: 'gateway' };
}

export function reloadAppliedEvent(source: string, trigger: string, revisions: { before: string; after: string }): AuditEvent {
  return { type: `${source}.reloaded`, actor: reloadActor(trigger), details: { trigger, ...revisions } };
}

export function reloadRejectedEvent(source: string, trigger: string, code: string): AuditEvent {
  return { type: `${source}.reload-rejected`, actor: reloadActor(trigger), details: { trigger, code } };
}
