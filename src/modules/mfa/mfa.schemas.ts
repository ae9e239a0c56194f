import { Type } from 'typebox';
import { Password } from '../../platform/http/schemas.js';

/** A 6-digit TOTP, or a recovery code (`xxxxx-xxxxx`); spaces and dashes are ignored. */
const Code = Type.String({ minLength: 6, maxLength: 32, description: 'A 6-digit TOTP or a recovery code' });

export const MfaVerify = Type.Object(
  { mfaToken: Type.String({ minLength: 1, maxLength: 2048 }), code: Code },
  { additionalProperties: false },
);

export const TotpSetupView = Type.Object({
  secret: Type.String({ description: 'Base32; shown once, stored encrypted' }),
  otpauthUrl: Type.String({ description: 'otpauth://totp/... for a QR code' }),
});

export const TotpEnable = Type.Object(
  {
    code: Type.String({
      minLength: 6,
      maxLength: 32,
      description: 'A current code of the new authenticator',
    }),
  },
  { additionalProperties: false },
);

export const RecoveryCodesView = Type.Object({
  recoveryCodes: Type.Array(Type.String(), {
    minItems: 10,
    maxItems: 10,
    description: 'Shown once; each works once in place of a TOTP code',
  }),
});

export const TotpDisable = Type.Object({ password: Password }, { additionalProperties: false });
