import { describe, expect, it } from 'vitest';
import { isBlockedAddress, WebhookAllowList } from '../../services/runtime/address-guard.js';
import { loadConfig } from '../../services/runtime/config.js';

describe('webhook destination checks', () => {
  it('blocks loopback, private, link-local, metadata, CGNAT, unspecified and embedded-IPv4 addresses', () => {
    const blocked = [
      '127.0.0.1',
      '127.255.0.9',
      '0.0.0.0',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.100.100.200',
      '224.0.0.1',
      '255.255.255.255',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:a00:1',
      '::ffff:169.254.169.254',
      '::127.0.0.1',
      'fc00::1',
      'fd00:ec2::254',
      'fe80::1',
      'ff02::1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::1',
      'not-an-address',
    ];
    expect(blocked.filter((a) => !isBlockedAddress(a))).toEqual([]);
    const open = [
      '8.8.8.8',
      '93.184.215.14',
      '172.32.0.1',
      '100.128.0.1',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
    ];
    expect(open.filter((a) => isBlockedAddress(a))).toEqual([]);
  });

  it('parses the allow-list of CIDRs, addresses and host:port, and names a bad entry', () => {
    const allow = WebhookAllowList.parse(' 10.20.0.0/16, ::1, hooks.internal:8443 ,[fd12::5]:9000');
    expect(allow.allowsAddress('10.20.3.4')).toBe(true);
    expect(allow.allowsAddress('::ffff:10.20.3.4')).toBe(true);
    expect(allow.allowsAddress('10.21.0.1')).toBe(false);
    expect(allow.allowsAddress('::1')).toBe(true);
    expect(allow.allowsHost('HOOKS.internal', 8443)).toBe(true);
    expect(allow.allowsHost('hooks.internal', 443)).toBe(false);
    expect(allow.allowsHost('[fd12::5]', 9000)).toBe(true);
    expect(() => WebhookAllowList.parse('10.0.0.0/33')).toThrow('10.0.0.0/33');
    expect(() => loadConfig({ GLASSHOUSE_WEBHOOK_ALLOW: 'http://x/' })).toThrow(/GLASSHOUSE_WEBHOOK_ALLOW/);
    expect(loadConfig({}).webhooks.allow.allowsAddress('127.0.0.1')).toBe(false);
  });
});
