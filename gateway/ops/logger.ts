// The process logger: pino JSON lines. Redaction is a backstop; the rule is that secrets, keys and
// dataset bytes are never handed to the logger in the first place.
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  '*.privateKey',
  '*.dataKey',
  '*.key',
  '*.d',
  '*.password',
];

export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'hetao-gateway' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
