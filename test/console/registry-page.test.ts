// The console's registry page as rendered from a loaded registry at a fixed time: every bound
// certificate with its expiry state, soonest first, and the ones expired or expiring in 30 days also
// listed at the top; certificate text escaped, never markup.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { registryPage } from '../../gateway/console/console-pages.js';
import { parseRegistry } from '../../gateway/identity/registry.js';
import { REGISTRY_FILE } from '../support/dev-pki.js';
import { issueLeaf, throwawayCa } from '../support/throwaway-certificates.js';

const DAY = 86_400_000;
const NOW = new Date('2031-03-01T12:00:00Z');
const at = (days: number): Date => new Date(NOW.getTime() + days * DAY);
const officer = { id: 'officer-chan', name: 'Chan Tai Man', role: 'security-officer' };

type Entry = { id: string; certificates: Record<string, unknown>[] };
type Doc = { institutions: Entry[]; people: Entry[]; gateways: Entry[] };

/** The dev registry with some bindings replaced by throwaway certificates of chosen expiry. */
function registryAtNow() {
  const ca = throwawayCa();
  const leaf = (serial: string, commonName: string, notAfter: Date) => ({ certificate: issueLeaf(ca, { serial, commonName, notBefore: at(-400), notAfter }) });
  const doc = parse(readFileSync(REGISTRY_FILE, 'utf8')) as Doc;
  const entry = (section: Entry[], id: string): Entry => {
    const found = section.find((candidate) => candidate.id === id);
    if (!found) throw new Error(`${id} is not in the dev registry`);
    return found;
  };
  entry(doc.institutions, 'hk-ctc').certificates = [leaf('4b01', 'hk-ctc expired', at(-5))];
  entry(doc.institutions, 'hk-uni-genomics').certificates = [leaf('4b02', 'hk-uni-genomics in ten days', at(10))];
  entry(doc.institutions, 'eu-uniklinik').certificates = [leaf('4b03', 'eu-uniklinik in hours', at(0.25))];
  entry(doc.institutions, 'us-genomics-institute').certificates = [leaf('4b04', 'us-genomics in thirty days', at(30))];
  entry(doc.institutions, 'hk-pcpd').certificates = [leaf('4b05', 'hk-pcpd in thirty-one days', at(31))];
  entry(doc.people, 'dpo-weber').certificates = [leaf('4b06', '<img src=x onerror=alert(1)> Weber & "Co"', at(200))];
  // Bound by fingerprint only: the registry cannot know when it expires.
  const chan = entry(doc.people, 'officer-chan').certificates[0] as Record<string, unknown>;
  delete chan.certificate;
  return parseRegistry(Buffer.from(stringify(doc)), '/etc/hetao/registry.yaml');
}

/** The rows of the table with this caption, each as its text cells' HTML. */
function rowsOf(page: string, caption: string): string[] {
  const table = page.split('<table>').find((part) => part.includes(`<caption>${caption}</caption>`));
  if (!table) throw new Error(`no table "${caption}"`);
  return [...(table.split('<tbody>')[1] ?? '').matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((match) => match[1] ?? '');
}

const rowOf = (rows: string[], principal: string): string | undefined => rows.find((row) => row.startsWith(`<th scope="row">${principal}</th>`));

describe('registry page: certificates and their expiry', () => {
  const page = registryPage(officer, registryAtNow(), NOW);
  const all = rowsOf(page, 'Certificates');
  const due = rowsOf(page, 'Certificates expiring in the next 30 days or expired');

  it('lists every binding of institutions, people and peer gateways with its state', () => {
    const doc = parse(readFileSync(REGISTRY_FILE, 'utf8')) as Doc;
    expect(all).toHaveLength([...doc.institutions, ...doc.people, ...doc.gateways].reduce((sum, entry) => sum + entry.certificates.length, 0));
    expect(rowOf(all, 'institution hk-ctc')).toContain('<td>CN=hk-ctc expired,O=Test Only,C=HK</td><td>4b01</td><td><time datetime="2031-02-24T12:00:00.000Z">2031-02-24</time></td><td class="status-expired">expired</td>');
    expect(rowOf(all, 'institution hk-uni-genomics')).toContain('<td class="status-expiring">expires in 10 days</td>');
    expect(rowOf(all, 'institution eu-uniklinik')).toContain('<td class="status-expiring">expires in 1 day</td>');
    expect(rowOf(all, 'institution us-genomics-institute')).toContain('<td class="status-expiring">expires in 30 days</td>');
    expect(rowOf(all, 'institution hk-pcpd')).toMatch(/<td>valid<\/td>$/);
    expect(rowOf(all, 'gateway hetao-hk-gateway')).toMatch(/<td>2012<\/td><td><time datetime="[^"]+">20\d\d-\d\d-\d\d<\/time><\/td><td>valid<\/td>$/);
    expect(rowOf(all, 'person officer-chan')).toBe('<th scope="row">person officer-chan</th><td></td><td>2201</td><td></td><td>expiry unknown (bound by fingerprint only)</td>');
  });

  it('sorts soonest expiry first, unknown expiry last', () => {
    const principals = all.map((row) => /^<th scope="row">([^<]+)<\/th>/.exec(row)?.[1]);
    // The dev registry's expired certificate of sz-hospital (2025) comes before hk-ctc's.
    expect(principals.slice(0, 6)).toEqual(['institution sz-hospital', 'institution hk-ctc', 'institution eu-uniklinik', 'institution hk-uni-genomics', 'institution us-genomics-institute', 'institution hk-pcpd']);
    expect(principals.at(-1)).toBe('person officer-chan');
  });

  it('lists the expired and expiring ones, and only those, at the top', () => {
    expect(page.indexOf('<caption>Certificates expiring in the next 30 days or expired</caption>')).toBeLessThan(page.indexOf('<caption>Institutions</caption>'));
    expect(due.map((row) => /^<th scope="row">([^<]+)<\/th>/.exec(row)?.[1])).toEqual(['institution sz-hospital', 'institution hk-ctc', 'institution eu-uniklinik', 'institution hk-uni-genomics', 'institution us-genomics-institute']);
    expect(due.every((row) => /class="status-(expired|expiring)"/.test(row))).toBe(true);
  });

  it('says none when nothing is due', () => {
    const quiet = registryPage(officer, parseRegistry(readFileSync(REGISTRY_FILE), REGISTRY_FILE), new Date('2020-01-01T00:00:00Z'));
    expect(rowsOf(quiet, 'Certificates expiring in the next 30 days or expired')).toEqual(['<td colspan="5">None.</td>']);
  });

  it('escapes what a certificate says', () => {
    expect(page).not.toContain('<img');
    expect(rowOf(all, 'person dpo-weber')).toContain('<td>CN=\\&lt;img src\\=x onerror\\=alert(1)\\&gt; Weber &amp; \\&quot;Co\\&quot;,O=Test Only,C=HK</td>');
  });

  it('no longer counts certificates in the institutions table', () => {
    expect(page).toContain('<caption>Institutions</caption>\n<thead><tr><th scope="col">Id</th><th scope="col">Legal name</th><th scope="col">Jurisdiction</th><th scope="col">Zone</th><th scope="col">Status</th><th scope="col">Approvals</th></tr></thead>');
    expect(page).not.toMatch(/style=|<script>/);
  });
});

describe('registry page: approvals expiring in the next 30 days', () => {
  it('lists an approval on its last day (dated in the zone, as decisions read it) and one 30 days on; not one ended yesterday or 31 days on', () => {
    const doc = parse(readFileSync(REGISTRY_FILE, 'utf8')) as { institutions: { id: string; approvals?: Record<string, unknown>[] }[] };
    const hospital = doc.institutions.find((institution) => institution.id === 'sz-hospital');
    if (!hospital) throw new Error('sz-hospital is not in the dev registry');
    const approval = (id: string, validUntil: string) => ({ type: 'hgr-international-cooperation', id, validFrom: '2030-01-01', validUntil });
    // 2031-03-01T12:00Z is 20:00 on 1 March in the zone (UTC+8).
    hospital.approvals = [approval('ends-today', '2031-03-01'), approval('ended-yesterday', '2031-02-28'), approval('ends-in-30', '2031-03-31'), approval('ends-in-31', '2031-04-01')];
    const page = registryPage(officer, parseRegistry(Buffer.from(stringify(doc)), '/etc/hetao/registry.yaml'), NOW);
    const rows = rowsOf(page, 'Approvals expiring in the next 30 days').join('\n');
    expect(rows).toContain('ends-today');
    expect(rows).toContain('ends-in-30');
    expect(rows).not.toContain('ended-yesterday');
    expect(rows).not.toContain('ends-in-31');
  });
});
