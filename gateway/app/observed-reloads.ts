// The files the gateway reloads while it runs (TLS material, registry, policies), each as a
// reloadable whose every outcome is logged with the revisions before → after, counted, and — in the
// gateway process — written to the audit journal.
import type { Logger } from 'pino';
import type { AuditEvent } from '../audit/audit-entry.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { reloadAppliedEvent, reloadRejectedEvent } from '../reload/reload-audit.js';
import { createReloadable, type Reloadable, type WatchTarget } from '../reload/reloadable.js';

/** Where a source's outcomes are also kept (the policies' history): awaited before the reload answers, a failure logged. */
export interface ReloadRecorder<T> {
  applied(event: { trigger: string; before: T; after: T }): Promise<void>;
  rejected(event: { trigger: string; error: unknown }): Promise<void>;
}

export type ObserveReloads = <T extends { revision: string }>(
  source: string,
  watch: readonly WatchTarget[],
  load: () => Promise<T>,
  apply?: (next: T) => void,
  recorder?: ReloadRecorder<T>,
) => Promise<Reloadable<T>>;

export function observeReloads(deps: {
  readonly config: Pick<GatewayConfig, 'watchFiles'>;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** The audit journal's append, in the gateway process; a worker journals nothing. */
  readonly journal?: (event: AuditEvent) => Promise<unknown>;
}): ObserveReloads {
  const { metrics, logger, journal } = deps;
  return async (source, watch, load, apply, recorder) => {
    const reloadable = await createReloadable({
      name: source,
      watch,
      load,
      revisionOf: (value) => value.revision,
      watchFiles: deps.config.watchFiles,
      onReloaded: async ({ trigger, before, after }) => {
        apply?.(after);
        metrics.reloads.inc({ source, result: 'applied' });
        metrics.markRevision(source, after.revision);
        logger.info({ source, trigger, before: before.revision, after: after.revision }, `${source} reloaded`);
        // The new version is already in force: a journal failure is logged, it does not undo the reload.
        await journal?.(reloadAppliedEvent(source, trigger, { before: before.revision, after: after.revision })).catch((error: unknown) =>
          logger.error({ source, err: error }, `${source} reload could not be written to the audit journal`),
        );
        await recorder?.applied({ trigger, before, after }).catch((error: unknown) => logger.error({ source, err: error }, `${source} reload could not be kept in its history`));
      },
      onRejected: async ({ trigger, error }) => {
        const code = error instanceof GatewayError ? error.code : 'ERR_INTERNAL';
        metrics.reloads.inc({ source, result: 'rejected' });
        void journal?.(reloadRejectedEvent(source, trigger, code)).catch((journalError: unknown) =>
          logger.error({ source, err: journalError }, `${source} reload refusal could not be written to the audit journal`),
        );
        const problems = error instanceof GatewayError ? error.details?.problems : undefined;
        logger.error({ source, trigger, code, problems, err: error }, `${source} reload refused; the previous ${source} stays in force`);
        await recorder?.rejected({ trigger, error }).catch((recordError: unknown) => logger.error({ source, err: recordError }, `${source} reload refusal could not be kept in its history`));
      },
    });
    metrics.markRevision(source, reloadable.current().revision);
    return reloadable;
  };
}
