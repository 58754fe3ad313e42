import {
  AlertAckCommand,
  AlertCommandName,
  commandHeader,
  commandSignatureHeader,
} from '../../../schemas/alert.js';
import { type IssueDetail, issueDetails } from '../../../schemas/common.js';
import { commandSignatureValid } from './command-signature.js';
import { parseJson } from './json.js';

/** Why a command record was refused (the DLQ reason). */
export type CommandRejectionReason =
  | 'unknown_command'
  | 'command_unauthenticated'
  | 'malformed_json'
  | 'invalid_command';

export type CommandVerdict =
  | { ok: true; name: 'alert.ack'; moduleId: string; command: AlertAckCommand }
  | { ok: false; reason: CommandRejectionReason; errors: IssueDetail[] };

/** True when a `metrics.raw` record is a command (it carries the command header), not a metric event. */
export function isCommandRecord(headers: Readonly<Record<string, string>>): boolean {
  return headers[commandHeader] !== undefined;
}

/**
 * Validates a command record read from `metrics.raw`: a known command name in the header, the
 * record key (the module the command is about), the signature under `commandKey` (agencies may
 * produce to `metrics.raw` directly, so an unsigned command is refused), and the JSON body. Pure;
 * the processor routes by header before metric validation, so a command never reaches
 * `validateMetricRecord`.
 */
export function validateCommandRecord(
  value: Buffer | string,
  headers: Readonly<Record<string, string>>,
  key: string | null,
  commandKey: Buffer,
): CommandVerdict {
  const name = AlertCommandName.safeParse(headers[commandHeader]);
  if (!name.success) {
    return {
      ok: false,
      reason: 'unknown_command',
      errors: [
        {
          path: `headers.${commandHeader}`,
          message: `must be one of ${AlertCommandName.options.join(', ')}`,
        },
      ],
    };
  }
  if (key === null || key === '')
    return {
      ok: false,
      reason: 'invalid_command',
      errors: [{ path: 'key', message: 'must name the module' }],
    };
  if (!commandSignatureValid(commandKey, name.data, key, value, headers[commandSignatureHeader]))
    return {
      ok: false,
      reason: 'command_unauthenticated',
      errors: [
        {
          path: `headers.${commandSignatureHeader}`,
          message: 'missing or not a valid signature of this command',
        },
      ],
    };
  const parsed = parseJson(typeof value === 'string' ? value : value.toString('utf8'));
  if (!parsed.ok)
    return { ok: false, reason: 'malformed_json', errors: [{ path: '(root)', message: parsed.message }] };
  const command = AlertAckCommand.safeParse(parsed.value);
  if (!command.success) return { ok: false, reason: 'invalid_command', errors: issueDetails(command.error) };
  return { ok: true, name: name.data, moduleId: key, command: command.data };
}
