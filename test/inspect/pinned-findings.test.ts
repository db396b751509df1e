// Pins the findings the inspector reports for generated CSV and VCF dense with identifiers and near
// misses of them (captured from the byte-at-a-time matcher before the vectorised scan replaced it),
// and checks that every way of cutting the same bytes into chunks (1, 7, 4096, 64 KiB, 64 KiB − 1
// then 3) gives that same report: identifiers split across chunks and across the scanner's windows
// are counted once, at the same offsets.
import { describe, expect, it } from 'vitest';
import type { InspectionReport } from '../../gateway/inspect/inspection-report.js';
import { identifierCsv, identifierVcf } from './identifier-corpus.js';
import { inspect, type Chunking } from './support.js';

const TODAY = new Date('2025-06-01T00:00:00Z');
const CORPUS = { csv: identifierCsv(300_000), vcf: identifierVcf(300_000) };
const CHUNKINGS: readonly Chunking[] = [1, 7, 4096, 65_536, [65_535, 3]];

/** What is pinned: format, bytes scanned, VCF columns, and each finding's kind, count and first offsets. */
function essentials(report: InspectionReport): unknown {
  return {
    detectedFormat: report.detectedFormat,
    bytesScanned: report.bytesScanned,
    ...(report.vcf ? { vcf: report.vcf } : {}),
    findings: report.findings.map((f) => [f.kind, f.count, f.firstOffsets]),
  };
}

// Suffixes start mid-line (so the format differs) and give other first offsets to compare.
const PINNED: readonly { corpus: keyof typeof CORPUS; from: number; report: unknown }[] = [
  { corpus: 'csv', from: 0, report: {"detectedFormat":"csv","bytesScanned":300081,"findings":[["mainland-id",83,[267,7825,8555,9988,12721]],["mainland-id-lookalike",154,[414,1050,1467,2145,5691]],["hkid",210,[495,700,2879,3291,4295]],["phone-mainland",543,[1393,1774,1927,2502,3087]],["phone-hk",273,[841,920,2070,4214,4591]],["email",48,[191,3364,24276,26296,30109]]]} },
  { corpus: 'csv', from: 65000, report: {"detectedFormat":"csv","bytesScanned":235081,"findings":[["mainland-id",62,[12929,18089,23163,23391,30426]],["mainland-id-lookalike",128,[1227,2796,2873,6643,7557]],["hkid",169,[494,572,1467,2339,4144]],["phone-mainland",433,[122,273,642,859,1313]],["phone-hk",216,[1537,1675,5394,5873,8967]],["email",38,[786,1074,2479,17852,22492]]]} },
  { corpus: 'csv', from: 131000, report: {"detectedFormat":"unknown","bytesScanned":169081,"findings":[["mainland-id",47,[16862,17102,18906,25005,29389]],["mainland-id-lookalike",91,[757,1103,1182,4002,4944]],["hkid",125,[270,479,1475,4872,5178]],["phone-mainland",318,[195,404,673,969,1754]],["phone-hk",157,[2302,3414,5023,5387,6334]],["email",26,[16555,30380,33314,35246,45942]]]} },
  { corpus: 'vcf', from: 0, report: {"detectedFormat":"vcf","bytesScanned":300073,"vcf":{"sampleColumns":12},"findings":[["mainland-id",23,[8334,27782,38766,46932,59591]],["mainland-id-lookalike",42,[22506,23597,26701,29467,31524]],["hkid",44,[2500,9415,23971,25970,29857]],["phone-mainland",122,[3953,9609,10322,13958,14524]],["phone-hk",63,[5627,7410,21768,24717,27419]],["email",17,[13582,32454,39696,58851,69845]]]} },
  { corpus: 'vcf', from: 65000, report: {"detectedFormat":"csv","bytesScanned":235073,"findings":[["mainland-id",18,[5236,7814,25769,28134,40517]],["mainland-id-lookalike",32,[4086,13001,18103,22325,23248]],["hkid",32,[5047,8200,14657,17915,19204]],["phone-mainland",95,[575,1129,2986,7427,8954]],["phone-hk",54,[217,1321,16092,17726,20317]],["email",13,[4845,6684,10765,44996,45784]]]} },
  { corpus: 'vcf', from: 131000, report: {"detectedFormat":"csv","bytesScanned":169073,"findings":[["mainland-id",10,[3589,52654,55970,56880,73628]],["mainland-id-lookalike",21,[6432,13577,17174,25464,30899]],["hkid",21,[3397,14842,16987,17371,17907]],["phone-mainland",68,[1063,6627,9288,11063,19678]],["phone-hk",44,[10184,26026,26216,26408,33227]],["email",5,[38166,57612,72897,114570,155620]]]} },
];

describe('findings on generated CSV and VCF are pinned', () => {
  for (const { corpus, from, report } of PINNED) {
    const chunkings = from === 0 ? CHUNKINGS : [65_536, 7];
    it(`${corpus} from byte ${from}, in chunks of ${chunkings.map((c) => JSON.stringify(c)).join(', ')}`, () => {
      const text = CORPUS[corpus].slice(from);
      for (const chunking of chunkings) {
        expect(essentials(inspect(text, chunking, { today: TODAY })), `chunks of ${JSON.stringify(chunking)}`).toEqual(report);
      }
    });
  }
});
