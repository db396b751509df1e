// The console's pages as HTML, from what the services return. Every table works without JavaScript;
// the one script (assets: verify-proofs.js) only adds the in-browser proof check on a transfer page.
import type { Registry } from '../identity/registry.js';
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
<li><a href="/console/registry">The registry</a>: institutions, their status and approvals expiring in the next 30 days.</li>
${viewer.role === 'regulator' ? html`<li>A transfer: <form method="get" action="/console/transfer"><label for="transfer-id">Transfer id</label> <input id="transfer-id" name="id" required pattern="tr-[0-9a-z]{9,12}-[0-9a-f]{16}"> <button type="submit">Open</button></form></li>` : ''}
</ul>`);
}

interface PolicyView {
  readonly revision: string;
  readonly loadedAt: string;
  readonly rules: readonly { id: string; file: string; jurisdiction?: string; effect: string; basis?: string; unconfirmed?: unknown }[];
}

export function policiesPage(viewer: Viewer, set: PolicyView, reloadToken: string | undefined, notice?: Html): string {
  return page('Policy set in force', viewer, html`${notice ?? ''}
<p>Revision <code>${set.revision.slice(0, 16)}</code>, loaded ${set.loadedAt}; ${set.rules.length} rules.</p>
${reloadToken ? html`<form method="post" action="/console/policies/reload"><input type="hidden" name="token" value="${reloadToken}"><button type="submit">Reload the policy folder</button></form>` : ''}
<table>
<caption>Rules, in evaluation order</caption>
<thead><tr><th scope="col">Rule</th><th scope="col">Jurisdiction</th><th scope="col">Effect</th><th scope="col">Basis</th><th scope="col">File</th></tr></thead>
<tbody>
${set.rules.map((rule) => html`<tr><th scope="row"><code>${rule.id}</code></th><td>${rule.jurisdiction ?? ''}</td><td>${rule.effect}</td><td>${rule.basis ?? ''}${rule.unconfirmed ? html` <span class="unconfirmed">(unconfirmed: ${String(rule.unconfirmed)})</span>` : ''}</td><td>${rule.file}</td></tr>`)}
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

export function decisionFragment(decision: { effect: string; decisionId: string; reasons: readonly { ruleId?: string | null; code: string; message: string; jurisdiction?: string }[]; matchedRules: readonly string[] }, explanation: readonly { ruleId?: string; outcome?: string; summary?: string }[]): Html {
  return html`<section aria-labelledby="decision-heading">
<h2 id="decision-heading">Decision: <span class="effect-${decision.effect}">${decision.effect}</span></h2>
<p>Decision <code>${decision.decisionId}</code>; rules that matched: ${decision.matchedRules.join(', ') || 'none'}.</p>
${decision.reasons.length > 0 ? html`<ul>${decision.reasons.map((reason) => html`<li>${reason.jurisdiction ? html`[${reason.jurisdiction}] ` : ''}rule <code>${reason.ruleId ?? 'default deny'}</code>: ${reason.message} (${reason.code})</li>`)}</ul>` : ''}
${explanation.length > 0 ? html`<details><summary>Every rule, explained</summary><ul>${explanation.map((line) => html`<li><code>${line.ruleId ?? ''}</code> ${line.outcome ?? ''} ${line.summary ?? ''}</li>`)}</ul></details>` : ''}
</section>`;
}

export function problemFragment(code: string, detail: string): Html {
  return html`<p role="alert"><strong>${code}</strong>: ${detail}</p>`;
}

export function registryPage(viewer: Viewer, registry: Registry, now: Date): string {
  const soon = new Date(now.getTime() + 30 * 86_400_000).toISOString();
  const institutions = [...registry.institutions.values()];
  const expiring = institutions.flatMap((institution) => (institution.approvals ?? []).filter((approval) => approval.validUntil >= now.toISOString() && approval.validUntil <= soon).map((approval) => ({ institution: institution.id, ...approval })));
  return page('Registry', viewer, html`<p>Revision <code>${registry.revision.slice(0, 16)}</code>; ${institutions.length} institutions, ${registry.people.size} people, ${registry.gateways.size} peer gateways.</p>
<table>
<caption>Approvals expiring in the next 30 days</caption>
<thead><tr><th scope="col">Institution</th><th scope="col">Type</th><th scope="col">Id</th><th scope="col">Valid until</th></tr></thead>
<tbody>${expiring.length === 0 ? html`<tr><td colspan="4">None.</td></tr>` : expiring.map((approval) => html`<tr><td>${approval.institution}</td><td>${approval.type}</td><td>${approval.id}</td><td>${approval.validUntil}</td></tr>`)}</tbody>
</table>
<table>
<caption>Institutions</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Legal name</th><th scope="col">Jurisdiction</th><th scope="col">Zone</th><th scope="col">Status</th><th scope="col">Certificates</th><th scope="col">Approvals</th></tr></thead>
<tbody>${institutions.map((institution) => html`<tr><th scope="row">${institution.id}</th><td>${institution.legalName}</td><td>${institution.jurisdiction}</td><td>${institution.zone}</td><td class="status-${institution.status}">${institution.status}</td><td>${institution.certificates.length}</td><td>${(institution.approvals ?? []).map((approval) => `${approval.type} ${approval.id} (until ${approval.validUntil.slice(0, 10)})`).join('; ')}</td></tr>`)}</tbody>
</table>`);
}
