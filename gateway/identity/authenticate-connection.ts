// Turns the client certificate of a TLS connection into a principal. The certificate is parsed once
// per connection; the registry lookup is redone whenever the registry revision changes, so a
// suspension takes effect on connections that are already open.
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../errors.js';
import { readCertificate, type CertificateFacts } from './read-certificate.js';
import type { Registry } from './registry.js';
import { resolvePrincipal, type Principal } from './resolve-principal.js';

export type ConnectionAuthenticator = (socket: TLSSocket) => Principal;

interface ConnectionState {
  readonly certificate: CertificateFacts;
  resolved?: { readonly revision: string; readonly principal?: Principal; readonly error?: GatewayError };
}

/**
 * @param currentRegistry returns the registry in force (it changes on reload).
 * @returns a function that throws GatewayError ERR_IDENTITY_* for callers who may not proceed.
 */
export function createConnectionAuthenticator(currentRegistry: () => Registry): ConnectionAuthenticator {
  const connections = new WeakMap<TLSSocket, ConnectionState>();
  return (socket) => {
    let state = connections.get(socket);
    if (!state) {
      // TLS already refused untrusted, expired and revoked certificates; this is defence in depth.
      if (!socket.authorized) {
        throw new GatewayError('ERR_IDENTITY_CERTIFICATE_MISSING', 'a client certificate issued by the zone CA is required', {
          tlsError: String(socket.authorizationError ?? 'none'),
        });
      }
      const der = socket.getPeerCertificate(false).raw;
      if (!der) throw new GatewayError('ERR_IDENTITY_CERTIFICATE_MISSING', 'a client certificate issued by the zone CA is required');
      state = { certificate: readCertificate(der) };
      connections.set(socket, state);
    }
    const registry = currentRegistry();
    if (state.resolved?.revision !== registry.revision) {
      try {
        state.resolved = { revision: registry.revision, principal: resolvePrincipal(registry, state.certificate) };
      } catch (error) {
        if (!(error instanceof GatewayError)) throw error;
        state.resolved = { revision: registry.revision, error };
      }
    }
    if (state.resolved.error) throw state.resolved.error;
    return state.resolved.principal as Principal;
  };
}
