import { commandHeader, commandSignatureHeader } from '../../schemas/alert.js';
import { deriveCommandKey, signCommand } from '../../services/core/validation/index.js';
import type { OutgoingRecord } from '../../services/ports/bus.js';

/** The command key test deployments share (as roles sharing GLASSHOUSE_COMMAND_KEY would). */
export const testCommandKey = deriveCommandKey('glasshouse test command key, 32+ chars');

/** An `alert.ack` command record for `moduleId`, signed with `key` (the shared test key by default). */
export function signedAck(
  moduleId: string,
  command: { alertId: string; by: string; note: string; at: number },
  key: Buffer = testCommandKey,
): OutgoingRecord {
  const value = JSON.stringify(command);
  return {
    key: moduleId,
    value,
    headers: {
      [commandHeader]: 'alert.ack',
      [commandSignatureHeader]: signCommand(key, 'alert.ack', moduleId, value),
    },
  };
}
