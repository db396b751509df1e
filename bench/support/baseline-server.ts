// Baseline servers for the upload benchmark, run as child processes like the gateway: a bare
// node:https server with client certificates that (a) pipes the body to disk, or (b) also computes
// SHA-256 and seals 64 KiB segments with AES-256-GCM on the way. The gateway must come close to (b).
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [mode, dataDir, certsDir] = process.argv.slice(2) as ['disk' | 'crypto', string, string];
const SEGMENT = 64 * 1024;

function sealSegments(): Transform {
  const key = randomBytes(32);
  const hash = createHash('sha256');
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  const seal = (segment: Buffer, last: boolean): Buffer => {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = last ? 1 : 0;
    index += 1;
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    return Buffer.concat([cipher.update(segment), cipher.final(), cipher.getAuthTag()]);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (pending.length > SEGMENT) {
        out.push(seal(pending.subarray(0, SEGMENT), false));
        pending = pending.subarray(SEGMENT);
      }
      callback(null, out.length ? Buffer.concat(out) : undefined);
    },
    flush(callback) {
      hash.digest();
      callback(null, seal(pending, true));
    },
  });
}

let uploads = 0;
const server = createServer(
  {
    key: readFileSync(path.join(certsDir, 'gateway-server.dev-only.key.pem')),
    cert: readFileSync(path.join(certsDir, 'gateway-server.dev-only.cert.pem')),
    ca: readFileSync(path.join(certsDir, 'zone-ca-bundle.dev-only.pem')),
    requestCert: true,
    rejectUnauthorized: true,
  },
  (request, response) => {
    const sink = createWriteStream(path.join(dataDir, `upload-${(uploads += 1)}`), { highWaterMark: 1024 * 1024 });
    const stages = mode === 'crypto' ? pipeline(request, sealSegments(), sink) : pipeline(request, sink);
    stages.then(
      () => response.end('{"ok":true}'),
      () => response.destroy(),
    );
  },
);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ msg: 'baseline listening', port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
