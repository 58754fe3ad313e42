import type { AlertEvent } from '../../../schemas/alert.js';
import type { Subscription } from '../../../schemas/subscriptions.js';
import { alertWords } from '../../oversight/alert-words.js';
import type { MailMessage } from '../../ports/mail.js';

const mailDomain = 'glasshouse.invalid';

/** The Message-ID of one alert version's e-mail to one subscription: the same on every attempt. */
export function alertMessageId(subscriptionId: string, alertId: string, version: number): string {
  return `<${alertId}.${version}.${subscriptionId}@${mailDomain}>`;
}

function footer(subscription: Subscription): string {
  return `You receive this because overseer ${subscription.overseerId} subscribed ${subscription.address} to Glasshouse alerts (subscription ${subscription.id}).`;
}

/** One alert version as an e-mail; later versions of an alert thread under its first. */
export function alertMail(
  subscription: Subscription,
  alert: AlertEvent,
  from: string,
  publicUrl: string,
): MailMessage {
  const words = alertWords(alert, publicUrl);
  return {
    from,
    to: subscription.address,
    subject: `[Glasshouse] ${words.title}`,
    text: `${words.lines.join('\n\n')}\n\nSee it on the dashboard: ${words.link}\n\n-- \n${footer(subscription)}\n`,
    messageId: alertMessageId(subscription.id, alert.alertId, alert.version),
    ...(alert.version > 1 ? { inReplyTo: alertMessageId(subscription.id, alert.alertId, 1) } : {}),
    headers: {
      'X-Glasshouse-Alert': alert.alertId,
      'X-Glasshouse-Alert-Version': String(alert.version),
      'X-Glasshouse-Subscription': subscription.id,
    },
  };
}

/** One day's alert versions (`day` as YYYY-MM-DD, UTC) as one digest e-mail. */
export function digestMail(
  subscription: Subscription,
  day: string,
  alerts: readonly AlertEvent[],
  from: string,
  publicUrl: string,
): MailMessage {
  const sections = alerts.map((alert) => {
    const words = alertWords(alert, publicUrl);
    return `* ${words.title}\n  ${words.lines.join('\n  ')}\n  ${words.link}`;
  });
  return {
    from,
    to: subscription.address,
    subject: `[Glasshouse] Daily digest for ${day}: ${alerts.length} alert version${alerts.length === 1 ? '' : 's'}`,
    text: `Alert versions published on ${day} (UTC), oldest first:\n\n${sections.join('\n\n')}\n\n-- \n${footer(subscription)}\n`,
    messageId: `<digest.${day}.${subscription.id}@${mailDomain}>`,
    headers: { 'X-Glasshouse-Digest': day, 'X-Glasshouse-Subscription': subscription.id },
  };
}
