import { decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { signJwt } from './jwt-sign.js';

describe('signJwt', () => {
  it('makes a compact JWS that jose verifies with the public key, header and claims as given', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const token = signJwt({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' }, { sub: 'u"1', n: [1, 2] }, privateKey);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' });
    const { payload } = await jwtVerify(token, publicKey, { algorithms: ['EdDSA'], typ: 'at+jwt' });
    expect(payload).toEqual({ sub: 'u"1', n: [1, 2] });
    // One changed character of the payload breaks the signature.
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${p!.slice(0, -1)}${p!.endsWith('A') ? 'B' : 'A'}.${s}`;
    await expect(jwtVerify(tampered, publicKey, { algorithms: ['EdDSA'] })).rejects.toThrow();
  });

  it('refuses any key but a private Ed25519 one', async () => {
    const ec = await generateKeyPair('ES256');
    expect(() => signJwt({ alg: 'EdDSA', kid: 'k', typ: 'at+jwt' }, {}, ec.privateKey)).toThrow(/Ed25519/);
    const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    expect(() => signJwt({ alg: 'EdDSA', kid: 'k', typ: 'at+jwt' }, {}, ed.publicKey)).toThrow(/Ed25519/);
  });
});
