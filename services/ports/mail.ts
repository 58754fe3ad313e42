/** One plain-text e-mail. */
export interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  /** Without angle brackets' contents checked: `<id@host>`, stable per message so a resend is recognisable. */
  messageId: string;
  /** Threads later versions of an alert under its first message. */
  inReplyTo?: string;
  headers?: Record<string, string>;
}

/**
 * Sends e-mail. `send` resolves once the server accepted the message and throws `MailRefused`
 * (retriable when the server said to try later, or could not be reached) otherwise.
 */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export class MailRefused extends Error {
  readonly code = 'mail_refused';
  constructor(
    message: string,
    readonly retriable: boolean,
    readonly responseCode?: number,
  ) {
    super(message);
  }
}
