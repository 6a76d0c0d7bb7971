/**
 * A throwaway PKI for a test kube-apiserver: a CA, a serving certificate for loopback, an
 * admin client certificate (O=system:masters) and a ServiceAccount token signing key pair.
 * Certificates come from `openssl` (through the runner); the signing key from node:crypto.
 * Everything is ECDSA P-256: generation takes a few milliseconds.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runner } from '../../src/exec/run.js';

export interface KubePki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  /** Verifies ServiceAccount tokens (`--service-account-key-file`). */
  saPublicKey: string;
  /** Signs ServiceAccount tokens (`--service-account-signing-key-file`). */
  saPrivateKey: string;
}

export interface PkiOptions {
  run: Runner;
  /** Subject alternative names of the serving certificate, as openssl spells them (`IP:…`, `DNS:…`). */
  serverSans?: readonly string[];
  /** Validity of the leaf certificates, in days. */
  days?: number;
}

export const defaultServerSans: readonly string[] = [
  'IP:127.0.0.1',
  'DNS:localhost',
  'IP:10.96.0.1',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
];

/** The openssl config: only extension sections, so the system openssl.cnf plays no part. */
export function opensslConfig(serverSans: readonly string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'CN = unused',
    '[ca_ext]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    'subjectKeyIdentifier = hash',
    '[server_ext]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${serverSans.join(',')}`,
    'authorityKeyIdentifier = keyid',
    '[client_ext]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = clientAuth',
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

/** Generate the PKI into `dir` (created 0700; keys are written 0600 by openssl / here). */
export async function generateKubePki(dir: string, opts: PkiOptions): Promise<KubePki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(dir, name);
  const cnf = f('openssl.cnf');
  await writeFile(cnf, opensslConfig(opts.serverSans ?? defaultServerSans), { mode: 0o600 });
  const days = String(opts.days ?? 365);
  const req = (ext: string, subj: string, key: string, cert: string, signer?: { cert: string; key: string }) =>
    opts.run([
      'openssl', 'req', '-x509', '-config', cnf, '-extensions', ext,
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', signer ? days : '3650', '-subj', subj,
      ...(signer ? ['-CA', signer.cert, '-CAkey', signer.key] : []),
    ]);
  const pki: KubePki = {
    dir,
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    serverCert: f('apiserver.crt'),
    serverKey: f('apiserver.key'),
    adminCert: f('admin.crt'),
    adminKey: f('admin.key'),
    saPublicKey: f('sa.pub'),
    saPrivateKey: f('sa.key'),
  };
  await req('ca_ext', '/CN=bgpvs-test-ca', pki.caKey, pki.caCert);
  const ca = { cert: pki.caCert, key: pki.caKey };
  const sa = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await Promise.all([
    req('server_ext', '/CN=kube-apiserver', pki.serverKey, pki.serverCert, ca),
    req('client_ext', '/O=system:masters/CN=bgpvs-admin', pki.adminKey, pki.adminCert, ca),
    writeFile(pki.saPublicKey, sa.publicKey, { mode: 0o600 }),
    writeFile(pki.saPrivateKey, sa.privateKey, { mode: 0o600 }),
  ]);
  return pki;
}
