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
}

/** An SMTP error with a 5xx reply will not succeed on retry; everything else might. */
export function isPermanent(err: unknown): boolean {
  const code = (err as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

export function createSmtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(mail) {
      await transporter.sendMail(mail);
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
      fs.writeFileSync(file, info.message as Buffer);
      logger.info({ file, subject: mail.subject }, 'email written to file (SMTP_URL is not set)');
    },
    close: () => stream.close(),
  };
}

export function createTransportFromConfig(config: Pick<Config, 'smtpUrl' | 'mailDir'>, logger: Logger): MailTransport {
  return config.smtpUrl ? createSmtpTransport(config.smtpUrl) : createFileTransport(config.mailDir, logger);
}
