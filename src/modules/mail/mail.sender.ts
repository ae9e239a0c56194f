import nodemailer, { type Transporter } from 'nodemailer';
import type { Db } from '../../platform/db.js';
import type { ClaimedMail, MailOutbox } from './mail.outbox.js';

/** The slice of a pino logger the sender writes to. */
export interface MailLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

export interface MailSenderOptions {
  smtpUrl: string | undefined;
  from: string;
  /** How often the outbox is polled when nothing kicked the sender. */
  pollIntervalMs?: number;
  /** First retry delay; doubles with each failed attempt up to `maxRetryMs`. */
  retryBaseMs?: number;
  maxRetryMs?: number;
  /** Attempts before a mail is marked failed. */
  maxAttempts?: number;
  batchSize?: number;
}

/** `a***@example.com`: enough to tell mails apart in a log without writing addresses out. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at <= 0 ? '***' : `${address[0]}***${address.slice(at)}`;
}

/**
 * Delivers the outbox in the background: through SMTP when SMTP_URL is set, else to the log (the
 * log line never holds the body, which carries the token). A failed send is retried with
 * exponential backoff; nothing is lost while the SMTP server is down.
 */
export class MailSender {
  pollIntervalMs: number;
  retryBaseMs: number;
  maxRetryMs: number;
  maxAttempts: number;
  readonly #batchSize: number;
  readonly #transport: Transporter | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #log: MailLogger | undefined;

  constructor(
    private readonly db: Db,
    private readonly outbox: MailOutbox,
    private readonly options: MailSenderOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 2_000;
    this.retryBaseMs = options.retryBaseMs ?? 10_000;
    this.maxRetryMs = options.maxRetryMs ?? 3_600_000;
    this.maxAttempts = options.maxAttempts ?? 25;
    this.#batchSize = options.batchSize ?? 20;
    this.#transport = options.smtpUrl
      ? nodemailer.createTransport(options.smtpUrl, {
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 30_000,
        } as never)
      : undefined;
  }

  get mode(): 'smtp' | 'log' {
    return this.#transport ? 'smtp' : 'log';
  }

  start(log: MailLogger): void {
    this.#log = log;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Runs soon (after a commit that queued mail). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    this.#transport?.close();
  }

  /** Delivers every due mail once; answers how many were claimed. */
  async runOnce(): Promise<number> {
    let claimed = 0;
    for (;;) {
      const batch = await this.db.transaction((tx) => this.outbox.claim(tx, this.#batchSize));
      claimed += batch.length;
      for (const mail of batch) await this.#deliver(mail);
      if (batch.length < this.#batchSize || this.#stopped) return claimed;
    }
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), delayMs);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#stopped || this.#running) return;
    this.#running = this.runOnce()
      .then(() => undefined)
      .catch((error: unknown) => this.#log?.error({ err: error }, 'mail outbox poll failed'))
      .finally(() => {
        this.#running = undefined;
        if (this.#stopped) return;
        const again = this.#again;
        this.#again = false;
        this.#schedule(again ? 0 : this.pollIntervalMs);
      });
  }

  async #deliver(mail: ClaimedMail): Promise<void> {
    const about = {
      mailId: mail.id,
      kind: mail.kind,
      to: maskAddress(mail.recipient),
      attempt: mail.attempts,
    };
    if (!this.#transport) {
      await this.outbox.markDelivered(this.db, mail.id, 'logged');
      this.#log?.info({ ...about, subject: mail.subject }, 'mail delivered to the log (SMTP_URL is unset)');
      return;
    }
    try {
      await this.#transport.sendMail({
        from: this.options.from,
        to: mail.recipient,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const giveUp = mail.attempts >= this.maxAttempts;
      const retryIn = Math.min(this.retryBaseMs * 2 ** (mail.attempts - 1), this.maxRetryMs);
      await this.outbox.markFailed(this.db, mail.id, message, giveUp ? null : retryIn);
      this.#log?.warn(
        { ...about, error: message, retryInMs: giveUp ? null : retryIn },
        'mail delivery failed',
      );
      return;
    }
    await this.outbox.markDelivered(this.db, mail.id, 'sent');
    this.#log?.info(about, 'mail sent');
  }
}
