// GET/POST /console…: the web console for security officers, admins and regulators, on the API's
// listener and mutual TLS (docs/console.md). The person's certificate decides who they are, through the
// registry, as for the API; institutions and peer gateways get a page that says the console is not for
// them. Pages are server-rendered from the same services as the API, under a strict Content Security
// Policy (no inline script or style); forms that act are guarded against cross-site requests.
import { createRequire } from 'node:module';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { ConnectionAuthenticator } from '../identity/authenticate-connection.js';
import type { Registry } from '../identity/registry.js';
import type { AuditEntry } from '../audit/audit-entry.js';
import type { PolicyService } from '../policy/policy-service.js';
import type { TransferService } from '../transfer/transfer-service.js';
import { CONSOLE_CSS, OVERVIEW_CHARTS_JS, VERIFY_PROOFS_JS } from './console-assets.js';
import { dryRunPage, homePage, notFoundPage, policiesPage, problemFragment, refusedPage, registryPage, reloadResultPage, type Viewer } from './console-pages.js';
import { createCrossSiteGuard } from './cross-site-guard.js';
import { transferPage } from './transfer-page.js';
import { decisionFragment } from './decision-explained.js';
import { policyDiffPage, policyHistoryPage, policyRevisionPage } from './policy-history-pages.js';
import type { FlowsService } from '../flows/flows-service.js';
import { overviewPage, type WitnessingView } from './overview-page.js';

export interface ConsoleDependencies {
  readonly authenticate: ConnectionAuthenticator;
  readonly policies: PolicyService;
  readonly transfers: TransferService;
  readonly registry: () => Registry;
  /** This transfer's journal entries with their canonical text (audit/read-entries.ts). */
  readonly journalEntries: (transferId: string) => Promise<readonly { entry: AuditEntry; text: string }[]>;
  /** The flows the overview shows, as GET /v1/flows answers them (flows/flows-service.ts). */
  readonly flows: FlowsService;
  /** The peer gateways' witnessing of this log (absent: no peers). */
  readonly witnessing?: () => WitnessingView;
  readonly clock: () => Date;
}

const CONSOLE_ROLES = new Set(['security-officer', 'admin', 'regulator']);
const OFFICER_ROLES = new Set(['security-officer', 'admin']);
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const FORM_BODY_LIMIT = 256 * 1024;
const UPLOT_DIST = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
const UPLOT_FILES = new Set(['/uPlot.iife.min.js', '/uPlot.min.css']);

declare module 'fastify' {
  interface FastifyRequest {
    viewer?: Viewer;
  }
}

const sendHtml = (reply: FastifyReply, status: number, body: string): FastifyReply => reply.code(status).type('text/html; charset=utf-8').send(body);

export async function consoleRoutes(app: FastifyInstance, deps: ConsoleDependencies): Promise<void> {
  const guard = createCrossSiteGuard(deps.clock);

  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('cache-control', 'no-store');
  });

  // Who is looking: the registry's principal for the certificate; only people with a console role pass.
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/console/assets/')) return;
    let principal;
    try {
      principal = deps.authenticate(request.raw.socket as TLSSocket);
    } catch (error) {
      const refusal = error instanceof GatewayError ? error : new GatewayError('ERR_INTERNAL', 'the certificate could not be checked');
      return sendHtml(reply, refusal.status === 401 ? 401 : 403, refusedPage(refusal.status === 401 ? 401 : 403, refusal.message));
    }
    const viewer: Viewer = { id: principal.id, name: principal.name, role: principal.role };
    if (!CONSOLE_ROLES.has(principal.role)) return sendHtml(reply, 403, refusedPage(403, `${principal.id} is a ${principal.role === 'peer-gateway' ? 'peer gateway' : 'lab system (institution)'}, not a person with a console role.`, viewer));
    request.viewer = viewer;
  });

  // Forms arrive url-encoded; parsed in this plugin only.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))));

  const viewerOf = (request: FastifyRequest): Viewer => request.viewer as Viewer;
  const caller = (viewer: Viewer) => ({ id: viewer.id, role: viewer.role as never, institution: '' });
  /** Refuses a POST not from this origin with this person's token. */
  const checkForm = (request: FastifyRequest): string | undefined =>
    guard.refusal({
      principal: viewerOf(request).id,
      origin: request.headers.origin,
      referer: request.headers.referer,
      host: request.headers.host,
      token: (request.body as Record<string, unknown> | undefined)?.token,
    });
  /** A page of kept policy revisions; a revision the history does not keep is a 404 page. */
  const revisionPage = async (reply: FastifyReply, viewer: Viewer, render: () => Promise<string>) => {
    try {
      return sendHtml(reply, 200, await render());
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ERR_POLICY_REVISION_NOT_FOUND') return sendHtml(reply, 404, notFoundPage(viewer, error.message));
      throw error;
    }
  };
  const forbidden = (reply: FastifyReply, request: FastifyRequest, reason: string) => sendHtml(reply, 403, refusedPage(403, reason, viewerOf(request)));

  app.get('/console/assets/console.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(CONSOLE_CSS));
  app.get('/console/assets/overview-charts.js', async (_request, reply) => reply.type('application/javascript; charset=utf-8').send(OVERVIEW_CHARTS_JS));
  // uPlot as npm ships it, served from the package itself: its two files and nothing else of node_modules.
  await app.register(fastifyStatic, {
    root: UPLOT_DIST,
    prefix: '/console/assets/vendor/uplot/',
    decorateReply: false,
    index: false,
    allowedPath: (pathName) => UPLOT_FILES.has(pathName),
  });
  app.get('/console/assets/verify-proofs.js', async (_request, reply) => reply.type('application/javascript; charset=utf-8').send(VERIFY_PROOFS_JS));

  app.get('/console', async (request, reply) => sendHtml(reply, 200, homePage(viewerOf(request))));

  app.get('/console/policies', async (request, reply) => {
    const viewer = viewerOf(request);
    return sendHtml(reply, 200, policiesPage(viewer, deps.policies.describe(caller(viewer)), OFFICER_ROLES.has(viewer.role) ? guard.tokenFor(viewer.id) : undefined, await deps.policies.caseCounts(caller(viewer))));
  });

  app.post('/console/policies/reload', async (request, reply) => {
    const viewer = viewerOf(request);
    const refused = checkForm(request);
    if (refused) return forbidden(reply, request, `refused: ${refused}`);
    try {
      const result = await deps.policies.reload(caller(viewer));
      return sendHtml(reply, 200, reloadResultPage(viewer, { ok: true, result: result.outcome, revision: result.revision }));
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ERR_POLICY_RELOAD_REJECTED') return sendHtml(reply, 422, reloadResultPage(viewer, { ok: false, problems: (error.details?.problems as never[]) ?? [] }));
      if (error instanceof GatewayError && error.status === 403) return forbidden(reply, request, error.message);
      throw error;
    }
  });

  app.get('/console/policies/history', async (request, reply) => {
    const viewer = viewerOf(request);
    const [{ revisions }, { reloads }] = await Promise.all([deps.policies.revisions(caller(viewer)), deps.policies.reloads(caller(viewer))]);
    return sendHtml(reply, 200, policyHistoryPage(viewer, deps.policies.describe(caller(viewer)).revision, revisions, reloads));
  });

  app.get<{ Params: { revision: string } }>('/console/policies/revisions/:revision', async (request, reply) => {
    const viewer = viewerOf(request);
    return revisionPage(reply, viewer, async () => policyRevisionPage(viewer, await deps.policies.revision(caller(viewer), request.params.revision)));
  });

  app.get<{ Querystring: { from?: string; to?: string } }>('/console/policies/diff', async (request, reply) => {
    const viewer = viewerOf(request);
    return revisionPage(reply, viewer, async () => policyDiffPage(viewer, await deps.policies.diff(caller(viewer), String(request.query.from ?? ''), String(request.query.to ?? ''))));
  });

  app.get('/console/dry-run', async (request, reply) => {
    const viewer = viewerOf(request);
    if (!OFFICER_ROLES.has(viewer.role)) return forbidden(reply, request, 'the dry run is for security officers and admins');
    return sendHtml(reply, 200, dryRunPage(viewer, guard.tokenFor(viewer.id), { from: '', manifest: '' }));
  });

  app.post('/console/dry-run', async (request, reply) => {
    const viewer = viewerOf(request);
    if (!OFFICER_ROLES.has(viewer.role)) return forbidden(reply, request, 'the dry run is for security officers and admins');
    const refused = checkForm(request);
    if (refused) return forbidden(reply, request, `refused: ${refused}`);
    const body = (request.body ?? {}) as Record<string, string>;
    const form = { from: String(body.from ?? ''), manifest: String(body.manifest ?? '') };
    let result;
    try {
      const manifest = JSON.parse(form.manifest) as unknown;
      const { decision, explanation } = await deps.policies.evaluate(caller(viewer), { from: form.from, manifest });
      result = decisionFragment(decision, explanation);
    } catch (error) {
      result = error instanceof SyntaxError ? problemFragment('ERR_MANIFEST_INVALID', `the manifest is not JSON: ${error.message}`) : error instanceof GatewayError ? problemFragment(error.code, error.message) : undefined;
      if (!result) throw error;
    }
    return sendHtml(reply, 200, dryRunPage(viewer, guard.tokenFor(viewer.id), form, result));
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/console/overview', async (request, reply) => {
    const viewer = viewerOf(request);
    const today = deps.clock().toISOString().slice(0, 10);
    const weekAgo = new Date(deps.clock().getTime() - 6 * 86_400_000).toISOString().slice(0, 10);
    const { from, to, institution, bucket } = request.query;
    const filter = { from: from || weekAgo, to: to || today, bucket: bucket === 'week' ? ('week' as const) : ('day' as const), ...(institution ? { institution } : {}) };
    try {
      return sendHtml(reply, 200, overviewPage(viewer, filter, await deps.flows.summary(caller(viewer), filter), deps.witnessing?.()));
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ERR_REQUEST_INVALID') return sendHtml(reply, 400, overviewPage(viewer, filter, { refusal: error.message }));
      throw error;
    }
  });

  app.get('/console/registry', async (request, reply) => sendHtml(reply, 200, registryPage(viewerOf(request), deps.registry(), deps.clock())));

  app.get<{ Querystring: { id?: string } }>('/console/transfer', async (request, reply) => reply.redirect(`/console/transfers/${encodeURIComponent(String(request.query.id ?? ''))}`, 303));

  app.get<{ Params: { id: string } }>('/console/transfers/:id', async (request, reply) => {
    const viewer = viewerOf(request);
    if (viewer.role !== 'regulator') return forbidden(reply, request, 'transfers are open to regulators (and to their parties through the API)');
    let record;
    try {
      record = await deps.transfers.get(request.params.id, caller(viewer));
    } catch (error) {
      if (error instanceof GatewayError && error.status === 404) return sendHtml(reply, 404, notFoundPage(viewer, `no transfer ${request.params.id}`));
      throw error;
    }
    const rules = new Map(deps.policies.describe(caller(viewer)).rules.map((rule) => [rule.id, rule.basis]));
    const entries = (await deps.journalEntries(record.id)).map(({ entry, text }) => ({ seq: entry.seq, time: entry.time, type: entry.type, actor: `${entry.actor.kind} ${entry.actor.id}`, text }));
    return sendHtml(reply, 200, transferPage(viewer, record, entries, (id) => rules.get(id)));
  });
}
