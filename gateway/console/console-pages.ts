// The console's pages as HTML, from what the services return. Every table works without JavaScript;
// scripts only add: the in-browser proof check on a transfer page (verify-proofs.js), the overview's charts.
import type { Registry } from '../identity/registry.js';
import type { CaseCounts } from '../policy/policy-service.js';
import { dayOf as zoneDayOf } from '../policy/decision-input.js';
import { html, type Html } from './html.js';

export interface Viewer {
  readonly id: string;
  readonly name: string;
  readonly role: string;
}

const NAV: readonly { href: string; label: string; roles: readonly string[] }[] = [
  { href: '/console', label: 'Home', roles: ['security-officer', 'admin', 'regulator'] },
  { href: '/console/overview', label: 'Overview', roles: ['security-officer', 'admin', 'regulator'] },
  { href: '/console/policies', label: 'Policy set', roles: ['security-officer', 'admin', 'regulator'] },
  { href: '/console/policies/history', label: 'Policy history', roles: ['security-officer', 'admin', 'regulator'] },
  { href: '/console/dry-run', label: 'Dry run', roles: ['security-officer', 'admin'] },
  { href: '/console/registry', label: 'Registry', roles: ['security-officer', 'admin', 'regulator'] },
];

export function page(title: string, viewer: Viewer | undefined, body: Html, scripts: readonly string[] = []): string {
  const links = viewer ? NAV.filter((item) => item.roles.includes(viewer.role)) : [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — Hetao gateway console</title>
<link rel="stylesheet" href="/console/assets/console.css">
${scripts.map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<header>
<p class="brand">Hetao research data gateway — console</p>
${viewer ? html`<p class="who">${viewer.name} (<span class="role">${viewer.role}</span>, ${viewer.id})</p>` : ''}
${links.length > 0 ? html`<nav aria-label="Console"><ul>${links.map((item) => html`<li><a href="${item.href}">${item.label}</a></li>`)}</ul></nav>` : ''}
</header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.text;
}

export function notFoundPage(viewer: Viewer, reason: string): string {
  return page('Not found', viewer, html`<p role="alert">${reason}</p>`);
}

export function refusedPage(status: number, reason: string, viewer?: Viewer): string {
  return page(status === 401 ? 'Certificate required' : 'Not for this certificate', viewer, html`<p role="alert">${reason}</p>
<p>The console is for the zone's security officers, admins and regulators, each with the personal certificate the registry binds to them. Lab systems use the API.</p>`);
}

export function homePage(viewer: Viewer): string {
  const officer = viewer.role === 'security-officer' || viewer.role === 'admin';
  return page('Console', viewer, html`<p>Signed in with your certificate as <strong>${viewer.role}</strong>.</p>
<ul>
<li><a href="/console/overview">The overview</a>: what crossed the border and what was stopped, by category, direction and outcome.</li>
<li><a href="/console/policies">The policy set in force</a>: every rule, its jurisdiction, basis and unconfirmed marks${officer ? ', and a reload' : ''}.</li>
${officer ? html`<li><a href="/console/dry-run">Dry run</a>: a manifest and a sender, decided and explained without recording anything.</li>` : ''}
<li><a href="/console/policies/history">The policy history</a>: every accepted revision with its files, what changed between two, every reload with its result.</li>
<li><a href="/console/registry">The registry</a>: institutions, their status, certificates and their expiry, approvals expiring in the next 30 days.</li>
${viewer.role === 'regulator' ? html`<li>A transfer: <form method="get" action="/console/transfer"><label for="transfer-id">Transfer id</label> <input id="transfer-id" name="id" required pattern="tr-[0-9a-z]{9,12}-[0-9a-f]{16}"> <button type="submit">Open</button></form></li>` : ''}
</ul>`);
}

interface PolicyView {
  readonly revision: string;
  readonly loadedAt: string;
  readonly rules: readonly { id: string; file: string; jurisdiction?: string; effect: string; basis?: string; unconfirmed?: unknown }[];
}

function casesSummary(counts: CaseCounts) {
  return html`<p>${counts.cases} policy cases (<code>tests/*.cases.yaml</code>) run against this set: ${counts.failing.length === 0 ? 'all pass' : html`<strong class="effect-deny">${counts.failing.length} fail</strong>`}.</p>
${counts.failing.length > 0 ? html`<ul>${counts.failing.map((failed) => html`<li><code>${failed.file}</code> ${failed.name}: ${failed.failures.join('; ')}</li>`)}</ul>` : ''}`;
}

export function policiesPage(viewer: Viewer, set: PolicyView, reloadToken: string | undefined, counts: CaseCounts): string {
  return page('Policy set in force', viewer, html`<p>Revision <code>${set.revision.slice(0, 16)}</code>, loaded ${set.loadedAt}; ${set.rules.length} rules. <a href="/console/policies/history">Revisions and reloads</a></p>
${reloadToken ? html`<form method="post" action="/console/policies/reload"><input type="hidden" name="token" value="${reloadToken}"><button type="submit">Reload the policy folder</button></form>` : ''}
${casesSummary(counts)}
<table>
<caption>Rules, in evaluation order</caption>
<thead><tr><th scope="col">Rule</th><th scope="col">Jurisdiction</th><th scope="col">Effect</th><th scope="col">Basis</th><th scope="col">Cases (allow / deny)</th><th scope="col">File</th></tr></thead>
<tbody>
${set.rules.map((rule) => {
  const cases = counts.perRule[rule.id] ?? { allow: 0, deny: 0 };
  return html`<tr><th scope="row"><code>${rule.id}</code></th><td>${rule.jurisdiction ?? ''}</td><td>${rule.effect}</td><td>${rule.basis ?? ''}${rule.unconfirmed ? html` <span class="unconfirmed">(unconfirmed: ${String(rule.unconfirmed)})</span>` : ''}</td><td class="cases${cases.allow === 0 || cases.deny === 0 ? ' uncovered' : ''}">${cases.allow} / ${cases.deny}</td><td>${rule.file}</td></tr>`;
})}
</tbody>
</table>`);
}

export function reloadResultPage(viewer: Viewer, outcome: { ok: true; result: string; revision: string } | { ok: false; problems: readonly { file?: string; line?: number; path?: string; message?: string }[] }): string {
  const body = outcome.ok
    ? html`<p role="status">Reload: <strong>${outcome.result}</strong>; revision in force <code>${outcome.revision.slice(0, 16)}</code>.</p>`
    : html`<p role="alert">The policy files were refused; the previous policy set stays in force.</p>
<ul>${outcome.problems.map((problem) => html`<li><code>${problem.file ?? '?'}:${problem.line ?? '?'}</code> ${problem.path ?? ''} — ${problem.message ?? ''}</li>`)}</ul>`;
  return page('Policy reload', viewer, html`${body}<p><a href="/console/policies">Back to the policy set</a></p>`);
}

export function dryRunPage(viewer: Viewer, token: string, form: { from: string; manifest: string }, result?: Html): string {
  return page('Dry run', viewer, html`<p>Decides a manifest as the sender would get it now, with every rule explained. Nothing is recorded.</p>
<form method="post" action="/console/dry-run">
<input type="hidden" name="token" value="${token}">
<p><label for="from">Sender institution</label><br><input id="from" name="from" required value="${form.from}"></p>
<p><label for="manifest">Manifest (JSON)</label><br><textarea id="manifest" name="manifest" rows="16" cols="80" required>${form.manifest}</textarea></p>
<p><button type="submit">Decide</button></p>
</form>
${result ?? ''}`);
}

export function problemFragment(code: string, detail: string): Html {
  return html`<p role="alert"><strong>${code}</strong>: ${detail}</p>`;
}

export function registryPage(viewer: Viewer, registry: Registry, now: Date): string {
  // Approvals are dated in the zone's calendar, as decisions read them: one is valid through its last day.
  const [today, soon] = [zoneDayOf(now), zoneDayOf(new Date(now.getTime() + 30 * 86_400_000))];
  const institutions = [...registry.institutions.values()];
  const expiring = institutions.flatMap((institution) => (institution.approvals ?? []).filter((approval) => approval.validUntil >= today && approval.validUntil <= soon).map((approval) => ({ institution: institution.id, ...approval })));
  const certificates = certificateRows(registry, now);
  const dueCertificates = certificates.filter((row) => row.state === 'expired' || row.state === 'expiring');
  return page('Registry', viewer, html`<p>Revision <code>${registry.revision.slice(0, 16)}</code>; ${institutions.length} institutions, ${registry.people.size} people, ${registry.gateways.size} peer gateways.</p>
<table>
<caption>Certificates expiring in the next 30 days or expired</caption>
${CERTIFICATE_HEAD}
<tbody>${dueCertificates.length === 0 ? html`<tr><td colspan="5">None.</td></tr>` : dueCertificates.map(certificateRow)}</tbody>
</table>
<table>
<caption>Approvals expiring in the next 30 days</caption>
<thead><tr><th scope="col">Institution</th><th scope="col">Type</th><th scope="col">Id</th><th scope="col">Valid until</th></tr></thead>
<tbody>${expiring.length === 0 ? html`<tr><td colspan="4">None.</td></tr>` : expiring.map((approval) => html`<tr><td>${approval.institution}</td><td>${approval.type}</td><td>${approval.id}</td><td>${approval.validUntil}</td></tr>`)}</tbody>
</table>
<table>
<caption>Institutions</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Legal name</th><th scope="col">Jurisdiction</th><th scope="col">Zone</th><th scope="col">Status</th><th scope="col">Approvals</th></tr></thead>
<tbody>${institutions.map((institution) => html`<tr><th scope="row">${institution.id}</th><td>${institution.legalName}</td><td>${institution.jurisdiction}</td><td>${institution.zone}</td><td class="status-${institution.status}">${institution.status}</td><td>${(institution.approvals ?? []).map((approval) => `${approval.type} ${approval.id} (until ${approval.validUntil.slice(0, 10)})`).join('; ')}</td></tr>`)}</tbody>
</table>
<table>
<caption>Certificates</caption>
${CERTIFICATE_HEAD}
<tbody>${certificates.length === 0 ? html`<tr><td colspan="5">None.</td></tr>` : certificates.map(certificateRow)}</tbody>
</table>`);
}

// The registry page's certificate tables (used by registryPage only).

const DAY_MS = 86_400_000;
const EXPIRY_WARNING_DAYS = 30;

interface CertificateRow {
  readonly principal: string;
  readonly subject: string;
  readonly serial: string;
  /** ISO 8601; absent when the registry holds only a fingerprint or issuer + serial. */
  readonly notAfter?: string;
  readonly state: 'expired' | 'expiring' | 'valid' | 'unknown';
  /** Whole days until notAfter, rounded up: a certificate with hours left "expires in 1 day", not in 0. */
  readonly daysLeft?: number;
}

const CERTIFICATE_HEAD = html`<thead><tr><th scope="col">Principal</th><th scope="col">Subject</th><th scope="col">Serial</th><th scope="col">Not after</th><th scope="col">State</th></tr></thead>`;

/** Every binding of institutions, people and peer gateways, soonest expiry first, unknown expiry last. */
function certificateRows(registry: Registry, now: Date): CertificateRow[] {
  const principals = [
    ...[...registry.institutions.values()].map((entry) => ({ principal: `institution ${entry.id}`, certificates: entry.certificates })),
    ...[...registry.people.values()].map((entry) => ({ principal: `person ${entry.id}`, certificates: entry.certificates })),
    ...[...registry.gateways.values()].map((entry) => ({ principal: `gateway ${entry.id}`, certificates: entry.certificates })),
  ];
  const rows = principals.flatMap(({ principal, certificates }) =>
    certificates.map((binding): CertificateRow => {
      const notAfter = binding.certificate?.notAfter;
      const base = { principal, subject: binding.certificate?.subject ?? '', serial: binding.serial ?? '' };
      if (notAfter === undefined) return { ...base, state: 'unknown' };
      const left = Date.parse(notAfter) - now.getTime();
      const daysLeft = Math.ceil(left / DAY_MS);
      return { ...base, notAfter, daysLeft, state: left <= 0 ? 'expired' : daysLeft <= EXPIRY_WARNING_DAYS ? 'expiring' : 'valid' };
    }),
  );
  const expiry = (row: CertificateRow): number => (row.notAfter === undefined ? Number.POSITIVE_INFINITY : Date.parse(row.notAfter));
  // Infinity - Infinity is NaN, which falls through to the principal like a tie.
  return rows.sort((a, b) => expiry(a) - expiry(b) || a.principal.localeCompare(b.principal));
}

function certificateRow(row: CertificateRow): Html {
  const state =
    row.state === 'expired'
      ? html`<td class="status-expired">expired</td>`
      : row.state === 'expiring'
        ? html`<td class="status-expiring">expires in ${row.daysLeft} ${row.daysLeft === 1 ? 'day' : 'days'}</td>`
        : row.state === 'valid'
          ? html`<td>valid</td>`
          : html`<td>expiry unknown (bound by fingerprint only)</td>`;
  return html`<tr><th scope="row">${row.principal}</th><td>${row.subject}</td><td>${row.serial}</td><td>${row.notAfter === undefined ? '' : html`<time datetime="${row.notAfter}">${row.notAfter.slice(0, 10)}</time>`}</td>${state}</tr>`;
}
