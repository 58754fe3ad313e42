import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook delivery may never reach unless the operator names them: this host, its
 * private networks, link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254), carrier-grade
 * NAT, documentation, multicast and reserved ranges, and IPv6 forms that embed an IPv4 address.
 */
// Two lists: a BlockList checks an IPv4 address against its IPv6 rules too (as IPv4-mapped).
const blocked = new BlockList();
const blocked6 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 reaches this host
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT (and some clouds' metadata, 100.100.100.200)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  blocked.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and IPv4-compatible
  ['64:ff9b::', 96], // NAT64
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local
  ['ff00::', 8], // multicast
] as const)
  blocked6.addSubnet(network, prefix, 'ipv6');

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, in any spelling) stands for. */
function mappedIpv4(address: string): string | undefined {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!hex) return undefined;
  const high = Number.parseInt(hex[1]!, 16);
  const low = Number.parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** Whether an IP address (v4 or v6, brackets stripped) lies in a range deliveries may not reach. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  // IPv4-mapped addresses reach the IPv4 address they name: judged as that.
  const v4 = mappedIpv4(address);
  if (v4 !== undefined) return blocked.check(v4, 'ipv4');
  return blocked6.check(address, 'ipv6');
}

/**
 * `GLASSHOUSE_WEBHOOK_ALLOW`: destinations the operator allows although they are blocked, as
 * comma-separated entries: a CIDR (`10.1.2.0/24`, `fd12::/64`), an address (`127.0.0.1`), or a
 * `host:port` (`alerts.internal:8443`, `[::1]:9000`) that allows that URL host and port whatever
 * it resolves to.
 */
export class WebhookAllowList {
  private readonly ranges = new BlockList();
  private readonly hostPorts = new Set<string>();

  private constructor(readonly entries: readonly string[]) {}

  /** Parses the variable's value; throws an Error naming the first bad entry. */
  static parse(text: string | undefined): WebhookAllowList {
    const entries = (text ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const list = new WebhookAllowList(entries);
    for (const entry of entries) {
      const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
      const hostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
      if (cidr && isIP(cidr[1]!)) {
        const family = isIP(cidr[1]!) === 4 ? 'ipv4' : 'ipv6';
        const prefix = Number(cidr[2]);
        if (prefix > (family === 'ipv4' ? 32 : 128)) throw new Error(`"${entry}": the prefix is too long`);
        list.ranges.addSubnet(cidr[1]!, prefix, family);
      } else if (isIP(entry)) {
        list.ranges.addAddress(entry, isIP(entry) === 4 ? 'ipv4' : 'ipv6');
      } else if (hostPort && Number(hostPort[2]) <= 65_535) {
        list.hostPorts.add(`${hostPort[1]!.toLowerCase()}:${Number(hostPort[2])}`);
      } else {
        throw new Error(`"${entry}" is not a CIDR, an IP address or host:port`);
      }
    }
    return list;
  }

  /** Whether the operator named this URL host and port (host as in the URL, IPv6 in brackets). */
  allowsHost(host: string, port: number): boolean {
    return this.hostPorts.has(`${host.toLowerCase()}:${port}`);
  }

  /** Whether the operator allowed this resolved address. */
  allowsAddress(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    if (this.ranges.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true;
    const v4 = family === 6 ? mappedIpv4(address) : undefined;
    return v4 !== undefined && this.ranges.check(v4, 'ipv4');
  }
}
