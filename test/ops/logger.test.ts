// The logger's redaction backstop: credentials and key fields never reach the log stream.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../gateway/ops/logger.js';

describe('createLogger', () => {
  it('redacts authorization headers and key material', () => {
    let written = '';
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written += chunk.toString();
        callback();
      },
    });
    const logger = createLogger({ level: 'info', destination });
    logger.info({ req: { headers: { authorization: 'Bearer secret-token' } }, wrap: { key: 'raw-key-bytes', dataKey: 'dk', d: 'jwk-private' } }, 'x');
    expect(written).not.toMatch(/secret-token|raw-key-bytes|jwk-private|"dk"/);
    expect(written).toMatch(/\[redacted\]/);
  });
});
