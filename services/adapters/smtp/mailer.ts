import nodemailer, { type Transporter } from 'nodemailer';
import { type Mailer, type MailMessage, MailRefused } from '../../ports/mail.js';

/**
 * The Mailer over SMTP (nodemailer): `smtp://[user:pass@]host:port` upgrades with STARTTLS when the
 * server offers it, `smtps://` is TLS from the start. One connection per message (no pool), so a
 * server that went away costs one failed attempt, not a stuck pool.
 */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(url: string, options: { timeoutMs?: number } = {}) {
    const timeout = options.timeoutMs ?? 10_000;
    this.transport = nodemailer.createTransport(url, {
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    } as object);
  }

  async send(message: MailMessage): Promise<void> {
    try {
      await this.transport.sendMail({
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        messageId: message.messageId,
        ...(message.inReplyTo ? { inReplyTo: message.inReplyTo, references: [message.inReplyTo] } : {}),
        ...(message.headers ? { headers: message.headers } : {}),
      });
    } catch (err) {
      const code = (err as { responseCode?: number }).responseCode;
      // 5xx is a permanent refusal (bad address); 4xx and connection errors may pass later.
      throw new MailRefused(
        `the SMTP server did not take the message${code ? ` (${code})` : ''}`,
        code === undefined || code < 500,
        code,
      );
    }
  }

  close(): void {
    this.transport.close();
  }
}
