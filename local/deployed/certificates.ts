/**
 * TLS for the as-deployed mode. Its functions call AWS endpoints over HTTPS and the cache over TLS
 * (rediss://), as the template says, so the local endpoints that play those hosts present a
 * certificate for them, issued by a throwaway certificate authority made at start. The functions'
 * runtime trusts that authority (NODE_EXTRA_CA_CERTS), as Lambda's trusts Amazon's; nothing else
 * does. Made with the openssl command line tool.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findExecutable, releaseOnExit, removeOnExit } from '../services/child';

export interface LocalCertificates {
  /** PEM file of the authority (what NODE_EXTRA_CA_CERTS points at). */
  readonly caFile: string;
  readonly ca: string;
  /** The leaf certificate and key (PEM), valid for every name and address asked for. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** Removes the files. */
  remove(): Promise<void>;
}

function openssl(args: string[], cwd: string): Promise<void> {
  const bin = findExecutable('openssl');
  if (bin === undefined) throw new Error('openssl not found on PATH: the as-deployed mode needs it for TLS (apt-get install -y openssl)');
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd, timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0] ?? ''} failed: ${stderr || error.message}`));
      else resolve();
    });
  });
}

/** A new authority and one leaf for `names` (DNS names, wildcards allowed) and `addresses` (IPs). */
export async function createLocalCertificates(
  names: readonly string[],
  addresses: readonly string[] = ['127.0.0.1'],
): Promise<LocalCertificates> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'shop-edge-tls-'));
  removeOnExit(dir);
  const san = [...new Set(names)]
    .map((n) => `DNS:${n}`)
    .concat([...new Set(addresses)].map((a) => `IP:${a}`))
    .join(',');
  await fs.promises.writeFile(
    path.join(dir, 'leaf.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`,
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '7', '-subj', '/CN=shop-edge local deployment CA'],
    dir,
  );
  await openssl(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=shop-edge local endpoints'], dir);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'leaf.pem',
      '-days',
      '7',
      '-extfile',
      'leaf.ext',
    ],
    dir,
  );
  const read = (file: string) => fs.promises.readFile(path.join(dir, file), 'utf8');
  const [ca, cert, key] = await Promise.all([read('ca.pem'), read('leaf.pem'), read('leaf.key')]);
  return {
    caFile: path.join(dir, 'ca.pem'),
    ca,
    certFile: path.join(dir, 'leaf.pem'),
    keyFile: path.join(dir, 'leaf.key'),
    cert,
    key,
    remove: async () => {
      await fs.promises.rm(dir, { recursive: true, force: true });
      releaseOnExit(dir);
    },
  };
}
