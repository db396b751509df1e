// nginx as the upload benchmark's peer (issue 15): the strongest common server doing the same job
// minus ours — mutual TLS, a WebDAV PUT of the body to a file — with one worker,
// `ssl_verify_client on`, `dav_methods PUT`, `client_body_buffer_size 1m` and a P-256 server key made
// for the run. It runs in the foreground as this user (`master_process off`), over a temporary
// folder. When nginx is missing it is installed (`apt-get install nginx-light`, as root or with
// passwordless sudo); where that cannot be done the peer is absent and the bench says so.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'];

function findNginx(): string | undefined {
  return CANDIDATES.find((file) => existsSync(file));
}

/** The nginx binary, installing nginx-light when it is missing and this user may; undefined (with the reason) otherwise. */
export function ensureNginx(): { binary: string } | { missing: string } {
  const found = findNginx();
  if (found) return { binary: found };
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  try {
    const run = (args: string[]): void => {
      const [command, ...rest] = [...asRoot, ...args];
      execFileSync(command as string, rest, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 });
    };
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', '--no-install-recommends', 'nginx-light']);
  } catch (error) {
    return { missing: `nginx is not installed and could not be installed (${(error as Error).message.split('\n')[0] ?? ''})` };
  }
  const installed = findNginx();
  return installed ? { binary: installed } : { missing: 'apt-get installed nginx-light but no nginx binary was found' };
}

export interface NginxPeer {
  /** https://127.0.0.1:<port>/ — PUT a path under it. */
  readonly url: string;
  /** The run's self-signed P-256 server certificate, for the client to trust. */
  readonly serverCertPem: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function listening(port: number, boundMs: number): Promise<boolean> {
  for (const bound = Date.now() + boundMs; Date.now() < bound; await sleep(50)) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return true;
  }
  return false;
}

/** Starts nginx on `port` over `dir`, verifying client certificates against `clientCaFile`. */
export async function startNginxPeer(binary: string, options: { dir: string; port: number; clientCaFile: string }): Promise<NginxPeer> {
  const { dir, port } = options;
  for (const sub of ['www', 'body', 'logs']) await mkdir(path.join(dir, sub), { recursive: true });
  const key = path.join(dir, 'server.key.pem');
  const cert = path.join(dir, 'server.cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/body;
  fastcgi_temp_path ${dir}/body;
  uwsgi_temp_path ${dir}/body;
  scgi_temp_path ${dir}/body;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_client_certificate ${options.clientCaFile};
    ssl_verify_client on;
    ssl_verify_depth 3;
    client_body_buffer_size 1m;
    client_max_body_size 0;
    location / {
      root ${dir}/www;
      dav_methods PUT;
      create_full_put_path on;
    }
  }
}
`,
  );
  const child = spawn(binary, ['-c', conf, '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await gone;
  };
  if (!(await listening(port, 10_000))) {
    await stop();
    throw new Error(`nginx did not listen on 127.0.0.1:${port} (see ${dir}/logs/error.log)`);
  }
  return { url: `https://127.0.0.1:${port}/`, serverCertPem: await readFile(cert, 'utf8'), child, stop };
}
