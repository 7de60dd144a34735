/**
 * A throw-away PKI for the emulator's HTTPS listener: a self-signed test CA and a server certificate for
 * `localhost` / 127.0.0.1 / ::1 signed by it.
 *
 * Why a CA rather than one self-signed server certificate: the task under test must trust the emulator the
 * way it would trust a corporate TLS-inspecting proxy or an on-premises server, i.e. through a CA file handed
 * over by the agent (`AGENT_CAINFO`) or by `NODE_EXTRA_CA_CERTS`. Certificates are built with node-forge
 * (node:crypto cannot issue X.509); keys come from node:crypto because forge's pure-JS RSA generation is
 * far slower.
 */
import { generateKeyPair } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TestPki {
  /** PEM of the self-signed test CA: what clients must trust. */
  caPem: string;
  /** PEM of the server certificate (leaf only). */
  serverCertPem: string;
  /** PKCS#1 PEM of the server certificate's private key. */
  serverKeyPem: string;
}

export const CA_FILE_NAME = 'emulator-ca.pem';

/** Generates a CA and a server certificate for localhost/127.0.0.1/::1. */
export async function createTestPki(): Promise<TestPki> {
  const [caKeys, serverKeys] = await Promise.all([generateRsaPem(), generateRsaPem()]);
  const caKey = forge.pki.privateKeyFromPem(caKeys.privateKeyPem);
  const caPublicKey = forge.pki.publicKeyFromPem(caKeys.publicKeyPem);
  const serverPublicKey = forge.pki.publicKeyFromPem(serverKeys.publicKeyPem);

  const caSubject = [
    { name: 'commonName', value: 'Azure DevOps and Entra ID emulator test CA' },
    { name: 'organizationName', value: 'Emulator (not trusted outside tests)' },
  ];

  const ca = forge.pki.createCertificate();
  ca.publicKey = caPublicKey;
  ca.serialNumber = randomSerial();
  setValidity(ca, 365);
  ca.setSubject(caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKey, forge.md.sha256.create());

  const server = forge.pki.createCertificate();
  server.publicKey = serverPublicKey;
  server.serialNumber = randomSerial();
  setValidity(server, 30);
  server.setSubject([{ name: 'commonName', value: 'localhost' }]);
  server.setIssuer(caSubject);
  server.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  server.sign(caKey, forge.md.sha256.create());

  return {
    caPem: forge.pki.certificateToPem(ca),
    serverCertPem: forge.pki.certificateToPem(server),
    serverKeyPem: serverKeys.privateKeyPem,
  };
}

/** Writes the CA PEM as `<dir>/emulator-ca.pem` (creating `dir`) and returns the file's path. */
export function writeCaFile(dir: string, caPem: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, CA_FILE_NAME);
  writeFileSync(file, caPem, { encoding: 'utf8' });
  return file;
}

function generateRsaPem(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        // PKCS#1 for the private key: the format forge.pki.privateKeyFromPem reads most reliably.
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      },
      (err, publicKeyPem, privateKeyPem) => {
        if (err) {
          reject(err);
        } else {
          resolve({ privateKeyPem, publicKeyPem });
        }
      },
    );
  });
}

function setValidity(cert: forge.pki.Certificate, days: number): void {
  // Back-date by an hour so a client whose clock is slightly behind still accepts the certificate.
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(notBefore.getTime() + days * 24 * 60 * 60 * 1000);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
}

function randomSerial(): string {
  // Positive 16-byte serial: a leading nibble of 0-7 keeps the DER INTEGER non-negative.
  const hex = forge.util.bytesToHex(forge.random.getBytesSync(16));
  return (parseInt(hex[0], 16) & 0x7).toString(16) + hex.slice(1);
}
