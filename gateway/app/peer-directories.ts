// The peers' signed directories, kept fresh: every HETAO_PEER_DIRECTORY_INTERVAL_MS each active peer
// gateway's directory is fetched over mutual TLS (this gateway's client identity) and verified.
import { Agent, request } from 'undici';
import type { PushTls } from '../delivery/push-envelope.js';
import type { Registry } from '../identity/registry.js';
import { createPeerDirectories, type PeerDirectories } from '../peering/peer-directories.js';

const PEER_REQUEST_TIMEOUT_MS = 10_000;

export function startPeerDirectories(deps: { readonly registry: () => Registry; readonly clientTls: PushTls; readonly intervalMs: number }): { directories: PeerDirectories; refreshAll(): Promise<void>; close(): Promise<void> } {
  const agent = new Agent({ connect: { cert: deps.clientTls.cert, key: deps.clientTls.key, ca: [...deps.clientTls.ca] } });
  const directories = createPeerDirectories({
    get: async (url) => {
      const response = await request(url, { dispatcher: agent, headersTimeout: PEER_REQUEST_TIMEOUT_MS, bodyTimeout: PEER_REQUEST_TIMEOUT_MS });
      return { status: response.statusCode, text: await response.body.text() };
    },
  });
  let running: Promise<void> | undefined;
  const refreshAll = (): Promise<void> => {
    running ??= (async () => {
      for (const peer of deps.registry().gateways.values()) if ((peer.status ?? 'active') === 'active') await directories.refresh(peer);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void refreshAll(), deps.intervalMs);
  timer.unref();
  void refreshAll();
  return {
    directories,
    refreshAll,
    async close() {
      clearInterval(timer);
      await running?.catch(() => undefined);
      await agent.close();
    },
  };
}
