// Generated CSV and VCF with identifiers of every kind, and numbers that only look like them, scattered
// densely enough that many straddle the scanner's 64 KiB windows and any chunk size. Deterministic, so
// a test can pin the findings the inspector reports for it.
import { hkidCheck, mainlandId, VCF_COLUMNS, withWrongCheck } from './support.js';

/** xorshift32: the same text on every run. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

type Random = () => number;

const digits = (random: Random, count: number): string => Array.from({ length: count }, () => Math.floor(random() * 10)).join('');
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

/** One value: an identifier, or a near miss of one (wrong length, glued to a word, a decimal, a date). */
function identifierOrNearMiss(random: Random): string {
  const id = mainlandId(pick(random, ['440305', '110101', '810000', '990101']), `19${50 + Math.floor(random() * 50)}0${1 + Math.floor(random() * 9)}1${Math.floor(random() * 9)}`, digits(random, 3));
  const letters = pick(random, ['A', 'Z', 'XA', 'WX']);
  const six = digits(random, 6);
  const check = hkidCheck(letters, six);
  const mobile = `1${3 + Math.floor(random() * 7)}${digits(random, 9)}`;
  const hk = `${pick(random, ['2', '3', '5', '6', '9', '4'])}${digits(random, 7)}`;
  const makers: readonly (() => string)[] = [
    () => id,
    () => withWrongCheck(id),
    () => id.slice(0, 17) + 'x',
    () => `${id}0`,
    () => `ID${id}`,
    () => `${letters}${six}(${check})`,
    () => `${letters}${six}${check}`,
    () => `${letters}${six}(${check === '0' ? '1' : '0'})`,
    () => `a${letters}${six}${check}`,
    () => mobile,
    () => `+86${mobile}`,
    () => `86-${mobile}`,
    () => `+86 ${mobile.slice(0, 3)} ${mobile.slice(3, 7)} ${mobile.slice(7)}`,
    () => `${mobile.slice(0, 3)}-${mobile.slice(3, 7)}-${mobile.slice(7)}`,
    () => `${mobile}.5`,
    () => `1${mobile}`,
    () => `+852 ${hk.slice(0, 4)} ${hk.slice(4)}`,
    () => `852${hk}`,
    () => `${hk.slice(0, 4)} ${hk.slice(4)}`,
    () => `7 ${hk.slice(0, 4)} ${hk.slice(4)}`,
    () => `${hk.slice(0, 4)}-${hk.slice(4)}`,
    () => `${pick(random, ['li.wei', 'chan_tm', 'x', '.dot', 'a+b'])}@${pick(random, ['research.hku.hk', 'example.cn', 'b.c', 'host', 'mail.x1'])}`,
    () => `${digits(random, 2)}@${digits(random, 1)}`,
    () => `${1940 + Math.floor(random() * 70)}-0${1 + Math.floor(random() * 9)}-1${Math.floor(random() * 9)}`,
    () => digits(random, 1 + Math.floor(random() * 20)),
    () => `${digits(random, 3)} ${digits(random, 4)} ${digits(random, 4)}`,
    () => `rs${digits(random, 6 + Math.floor(random() * 5))}`,
  ];
  return pick(random, makers)();
}

/** CSV of about `bytes` bytes: the bench's columns plus a contact column that holds a value most rows. */
export function identifierCsv(bytes: number, seed = 7): string {
  const random = createRandom(seed);
  const lines = ['patient,birth_date,sex,height_cm,gene,position,score,site,contact'];
  let length = 0;
  for (let row = 0; length < bytes; row += 1) {
    const contact = random() < 0.7 ? identifierOrNearMiss(random) : '';
    const site = pick(random, ['Shenzhen', 'Hong Kong', 'Sha Tin', `Room ${Math.floor(random() * 90)} Futian`]);
    const line = `P${String(row).padStart(8, '0')},19${50 + Math.floor(random() * 50)}-0${1 + Math.floor(random() * 9)}-1${Math.floor(random() * 9)},${random() < 0.5 ? 'F' : 'M'},${(150 + random() * 40).toFixed(1)},BRCA${1 + Math.floor(random() * 2)},${Math.floor(random() * 250_000_000)},${random().toFixed(4)},${site},${contact}`;
    lines.push(line);
    length += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

/** VCF of about `bytes` bytes with `samples` sample columns; some INFO fields carry a value. */
export function identifierVcf(bytes: number, samples = 12, seed = 11): string {
  const random = createRandom(seed);
  const header = `##fileformat=VCFv4.3\n##source=test\n##contig=<ID=chr1>\n${VCF_COLUMNS}${Array.from({ length: samples }, (_, i) => `\tS${i + 1}`).join('')}\n`;
  const lines: string[] = [];
  let length = header.length;
  for (let row = 0; length < bytes; row += 1) {
    const genotypes = Array.from({ length: samples }, () => `\t${pick(random, ['0|0', '0|1', '1|1'])}:${Math.floor(random() * 60)}:${Math.floor(random() * 99)}`).join('');
    const note = random() < 0.4 ? `;NOTE=${identifierOrNearMiss(random)}` : '';
    const line = `chr${1 + (row % 22)}\t${10_000 + row * 37}\trs${100_000 + row}\t${pick(random, ['A', 'C', 'G', 'T'])}\t${pick(random, ['A', 'C', 'G', 'T'])}\t${Math.floor(random() * 100)}\tPASS\tAF=${random().toFixed(3)};DP=${Math.floor(random() * 900)}${note}\tGT:DP:GQ${genotypes}`;
    lines.push(line);
    length += line.length + 1;
  }
  return `${header}${lines.join('\n')}\n`;
}
