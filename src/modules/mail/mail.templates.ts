/** A rendered mail: both bodies carry the same text. */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export type MailKind = 'invitation' | 'password_reset' | 'email_verification';

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Tenant names and inviter emails are user input: escaped before they enter the HTML body. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/**
 * A link under PUBLIC_URL, never from request headers (reset poisoning: ZITADEL GHSA-2wmj-46rj-qm2w).
 * A path prefix in PUBLIC_URL is kept; the token travels as the `token` query parameter.
 */
export function mailLink(publicUrl: string, path: string, token: string): string {
  const url = new URL(path.replace(/^\/+/, ''), `${publicUrl.replace(/\/+$/, '')}/`);
  url.searchParams.set('token', token);
  return url.toString();
}

function layout(
  paragraphs: string[],
  link: { href: string; label: string },
  footer: string,
): RenderedMail['html'] {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  const href = escapeHtml(link.href);
  return `<!doctype html>
<html><body style="font-family:sans-serif;line-height:1.5">
${body}
<p><a href="${href}">${escapeHtml(link.label)}</a></p>
<p style="color:#666;font-size:smaller">${escapeHtml(footer)}<br>${href}</p>
</body></html>`;
}

function render(
  subject: string,
  paragraphs: string[],
  link: { href: string; label: string },
  footer: string,
): RenderedMail {
  const text = `${paragraphs.join('\n\n')}\n\n${link.label}:\n${link.href}\n\n${footer}\n`;
  return { subject, text, html: layout(paragraphs, link, footer) };
}

export function invitationMail(input: {
  link: string;
  tenantName: string;
  inviterEmail: string | null;
  expiresAt: Date;
}): RenderedMail {
  const by = input.inviterEmail ? `${input.inviterEmail} has invited you` : 'You have been invited';
  return render(
    `You are invited to join ${input.tenantName}`,
    [`${by} to join ${input.tenantName}.`, `The invitation is valid until ${input.expiresAt.toISOString()}.`],
    { href: input.link, label: 'Accept the invitation' },
    'If you did not expect this invitation, ignore this mail.',
  );
}

export function passwordResetMail(input: { link: string; validMinutes: number }): RenderedMail {
  return render(
    'Reset your password',
    [
      'Someone asked to reset the password of your account.',
      `The link works once, for ${input.validMinutes} minutes.`,
    ],
    { href: input.link, label: 'Choose a new password' },
    'If you did not ask for this, ignore this mail: your password stays as it is.',
  );
}

export function verificationMail(input: { link: string; validHours: number }): RenderedMail {
  return render(
    'Confirm your email address',
    [
      'Confirm that this address belongs to your account.',
      `The link works once, for ${input.validHours} hours.`,
    ],
    { href: input.link, label: 'Confirm the address' },
    'If you did not create an account, ignore this mail.',
  );
}
