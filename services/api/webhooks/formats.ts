import type { WebhookFormat, WebhookPayload } from '../../../schemas/webhooks.js';
import { alertWords } from '../../oversight/alert-words.js';

/**
 * The body POSTed for one delivery, by the webhook's format: `json`, the signed WebhookPayload;
 * `slack`, a Slack incoming-webhook message (`text` as the fallback, Block Kit `blocks` with a link
 * button); `teams`, a Microsoft Teams connector MessageCard (`@type`, `@context`, `summary`,
 * `themeColor`, `title`, `sections` with `facts`, an `OpenUri` action). All three carry the same
 * signature headers.
 */
export function webhookBody(format: WebhookFormat, payload: WebhookPayload, publicUrl: string): string {
  if (format === 'json') return JSON.stringify(payload);
  const words = alertWords(payload.alert, publicUrl);
  if (format === 'slack') {
    return JSON.stringify({
      text: `${words.title}\n${words.link}`,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: words.title.slice(0, 150), emoji: false } },
        { type: 'section', text: { type: 'mrkdwn', text: slackEscape(words.lines.join('\n')) } },
        {
          type: 'actions',
          elements: [
            { type: 'button', text: { type: 'plain_text', text: 'Open in Glasshouse' }, url: words.link },
          ],
        },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: slackEscape(`Alert ${payload.alert.alertId} version ${payload.alert.version}`),
            },
          ],
        },
      ],
    });
  }
  return JSON.stringify({
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: words.title,
    themeColor:
      payload.alert.state === 'resolved'
        ? '2E7D32'
        : payload.alert.severity === 'critical'
          ? 'C62828'
          : 'F9A825',
    title: words.title,
    text: words.lines.join('\n\n'),
    sections: [{ facts: words.facts }],
    potentialAction: [
      { '@type': 'OpenUri', name: 'Open in Glasshouse', targets: [{ os: 'default', uri: words.link }] },
    ],
  });
}

/** Slack's mrkdwn treats `&`, `<` and `>` as control characters; text from the alert is escaped. */
function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
