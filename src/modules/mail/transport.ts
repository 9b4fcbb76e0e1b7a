import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
}

/** Where messages go: real SMTP, or .eml files a newcomer can open. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
  /**
   * The longest one send may take before it fails (SMTP: see createSmtpTransport). The
   * deliverer starts a send only while this much of its claim's lease is left.
   */
  readonly timeoutMs?: number;
}

/** An SMTP error with a 5xx reply will not succeed on retry; everything else might. */
export function isPermanent(err: unknown): boolean {
  const code = (err as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/** Steps of the SMTP session that come before any message is named (nodemailer's err.command). */
const SESSION_COMMANDS = new Set(['CONN', 'EHLO', 'HELO', 'LHLO', 'STARTTLS']);
/** nodemailer's codes for a connection that failed or timed out, and Node's own socket and DNS codes. */
const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROXY',
  'EAUTH',
  'ENOAUTH',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The mail server could not be used at all, so the failure says nothing about this
 * message and every other one would fail the same way: refused, reset or timed-out
 * connections, DNS, TLS and login failures, and replies to the session before any
 * message was named (the greeting, EHLO, STARTTLS, AUTH), including such a 5xx. A 421
 * ("service not available, closing channel") is the server turning everyone away.
 * A reply to MAIL FROM, RCPT TO or DATA (a 451 greylisting, a 452 mailbox full) concerns
 * one message only and is not a connection failure.
 */
export function isConnectionFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, command, responseCode } = err as { code?: unknown; command?: unknown; responseCode?: unknown };
  if (typeof command === 'string' && (SESSION_COMMANDS.has(command) || command.startsWith('AUTH'))) return true;
  if (typeof responseCode === 'number') return responseCode === 421;
  return typeof code === 'string' && CONNECTION_CODES.has(code);
}

/**
 * How long one SMTP send may take, all steps together. A server that accepts the
 * connection and never answers fails after this long instead of holding a claimed row
 * (and the deliverer's batch) past its lease.
 */
export const SMTP_TIMEOUT_MS = 10_000;

export function createSmtpTransport(url: string, options: { timeoutMs?: number } = {}): MailTransport {
  const timeoutMs = options.timeoutMs ?? SMTP_TIMEOUT_MS;
  // Each wait (connecting, the greeting, any reply) gets three quarters of it, so a
  // server that stops answering fails with nodemailer's own error ("Greeting never
  // received"); the deadline of the whole send below catches one that keeps every
  // wait short and never finishes.
  const waitMs = Math.round(timeoutMs * 0.75);
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: waitMs,
    greetingTimeout: waitMs,
    socketTimeout: waitMs,
    dnsTimeout: waitMs,
  });
  return {
    timeoutMs,
    async send(mail) {
      // Aborting closes the connection.
      const deadline = AbortSignal.timeout(timeoutMs);
      try {
        await transporter.sendMail({ ...mail, signal: deadline });
      } catch (err) {
        if (!deadline.aborted) throw err;
        throw Object.assign(new Error(`SMTP send did not finish within ${timeoutMs} ms`, { cause: err }), { code: 'ETIMEDOUT' });
      }
    },
    close: () => transporter.close(),
  };
}

/** The embedded default: each message becomes data/mail/<time>-<id>.eml and a log line. */
export function createFileTransport(dir: string, logger: Logger): MailTransport {
  const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(mail) {
      const info = await stream.sendMail(mail);
      fs.mkdirSync(dir, { recursive: true });
      const safeId = mail.messageId.replace(/[^\w.-]/g, '');
      const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${safeId}.eml`);
      // Written beside, then renamed: a full disk leaves no empty or partial .eml (the
      // send fails, the row stays in the outbox and is retried).
      const partial = `${file}.partial`;
      try {
        fs.writeFileSync(partial, info.message as Buffer);
        fs.renameSync(partial, file);
      } catch (err) {
        fs.rmSync(partial, { force: true });
        throw err;
      }
      logger.info({ file, subject: mail.subject }, 'email written to file (SMTP_URL is not set)');
    },
    close: () => stream.close(),
  };
}

export function createTransportFromConfig(config: Pick<Config, 'smtpUrl' | 'mailDir'>, logger: Logger): MailTransport {
  return config.smtpUrl ? createSmtpTransport(config.smtpUrl) : createFileTransport(config.mailDir, logger);
}
