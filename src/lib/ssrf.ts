import ipaddr from 'ipaddr.js'

// Which addresses an outbound call may connect to. Pure: src/lib/outbound.ts asks it about
// every address DNS returns (at connect time, so rebinding cannot slip past) and about
// literal IP hosts (which skip DNS).
//
// By default only global unicast passes. Refused: loopback, private (RFC 1918, ULA fc00::/7),
// link-local, cloud metadata, multicast, broadcast, unspecified (0.0.0.0/8, ::), CGNAT
// (100.64.0.0/10), documentation/benchmark/reserved ranges, and the IPv6 special ranges
// (Teredo, discard, ORCHID, local-use NAT64 64:ff9b:1::/48, the deprecated ::/96 …).
// IPv6 forms that carry an IPv4 address — IPv4-mapped ::ffff:a.b.c.d, SIIT ::ffff:0:a.b.c.d,
// NAT64 64:ff9b::/96, 6to4 2002::/16 — are judged by the IPv4 address they carry.
// RELAY_ALLOW lets chosen CIDRs or host names through.

type Address = ipaddr.IPv4 | ipaddr.IPv6

export type Verdict =
  | { allowed: true }
  | { allowed: false, address: string, range: string, reason: string }

export interface AllowList {
  cidrs: ReadonlyArray<[Address, number]>
  /** exact host names, lowercase, no trailing dot */
  hosts: ReadonlySet<string>
  /** from `*.example.com` entries: `.example.com` (subdomains only) */
  suffixes: readonly string[]
}

export interface AddressPolicy {
  /** true when the host name itself is on the allow list: every address it resolves to passes */
  allowsHost: (hostname: string) => boolean
  /** the verdict on one address; `hostname` is the name it was resolved from, if any */
  check: (address: string, hostname?: string) => Verdict
}

const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254'])
const HOST = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/

export class AllowListError extends Error {
  override name = 'AllowListError'
}

/** RELAY_ALLOW entries (CIDRs, bare IPs, host names, `*.domain`); throws AllowListError on a bad one. */
export function parseAllowList (entries: Iterable<string>): AllowList {
  const cidrs: Array<[Address, number]> = []
  const hosts = new Set<string>()
  const suffixes: string[] = []
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase()
    if (entry === '') continue
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new AllowListError(`${raw}: not a CIDR (e.g. 10.0.0.0/8, fd00::/8)`)
      cidrs.push(ipaddr.parseCIDR(entry))
    } else if (ipaddr.isValid(unbracket(entry)) && isStrictIp(unbracket(entry))) {
      const ip = ipaddr.parse(unbracket(entry))
      cidrs.push([ip, ip.kind() === 'ipv4' ? 32 : 128])
    } else {
      const host = entry.replace(/\.$/, '')
      if (!HOST.test(host) || /^[\d.]+$/.test(host)) throw new AllowListError(`${raw}: not a CIDR, an IP address or a host name`)
      if (host.startsWith('*.')) suffixes.push(host.slice(1))
      else hosts.add(host)
    }
  }
  return { cidrs, hosts, suffixes }
}

export function addressPolicy (allow: AllowList | Iterable<string> = []): AddressPolicy {
  const list = isAllowList(allow) ? allow : parseAllowList(allow)
  const allowsHost = (hostname: string): boolean => {
    const host = normalizeHost(hostname)
    return list.hosts.has(host) || list.suffixes.some(suffix => host.endsWith(suffix))
  }
  return {
    allowsHost,
    check (address, hostname) {
      if (hostname !== undefined && allowsHost(hostname)) return { allowed: true }
      const ip = parseAddress(address)
      if (ip === undefined) {
        return { allowed: false, address, range: 'invalid', reason: `${address} is not an IP address` }
      }
      const forms = [ip, embeddedIPv4(ip)].filter(a => a !== undefined)
      if (forms.some(a => list.cidrs.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits)))) {
        return { allowed: true }
      }
      const range = rangeOf(ip)
      if (range === 'public') return { allowed: true }
      return { allowed: false, address, range, reason: `${address} is ${describe(range)}` }
    }
  }
}

/**
 * What the policy says of a URL's host before any call is made, without DNS: the reason it is
 * refused, or undefined. An IP literal is judged as it is, `localhost` and `*.localhost` as the
 * loopback they always name (RFC 6761); any other host name passes here, and each address it
 * resolves to is judged when a call connects (src/lib/outbound.ts).
 */
export function hostRefusal (policy: AddressPolicy, hostname: string): string | undefined {
  const host = normalizeHost(unbracket(hostname))
  const address = host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : host
  if (address === host && parseAddress(host) === undefined) return undefined
  const verdict = policy.check(address, host)
  return verdict.allowed ? undefined : verdict.reason.replace(address, host)
}

/**
 * The range an address falls in: 'public' for global unicast, else a name such as 'loopback',
 * 'private', 'linkLocal', 'metadata', 'multicast', 'unspecified', 'carrierGradeNat', 'reserved';
 * an IPv6 form carrying IPv4 takes the IPv4 address's range ('loopback (IPv4-mapped)').
 */
export function rangeOf (address: Address | string): string {
  const ip = typeof address === 'string' ? parseAddress(address) : address
  if (ip === undefined) return 'invalid'
  if (METADATA.has(ip.toString())) return 'metadata'
  if (ip.kind() === 'ipv4') {
    const range = ip.range()
    return range === 'unicast' ? 'public' : range
  }
  const v6 = ip as ipaddr.IPv6
  const embedded = embeddedIPv4(v6)
  if (embedded !== undefined) {
    const inner = rangeOf(embedded)
    return inner === 'public' ? 'public' : `${inner} (${embeddingName(v6)})`
  }
  const range = v6.range()
  if (range === 'uniqueLocal') return 'private'
  if (range === 'unicast') {
    // ::a.b.c.d, the deprecated IPv4-compatible form: never a real destination
    return v6.parts.slice(0, 6).every(p => p === 0) ? 'reserved' : 'public'
  }
  return range
}

/** The IPv4 address an IPv6 address carries (mapped, SIIT, NAT64 /96, 6to4), if any. */
function embeddedIPv4 (ip: Address): ipaddr.IPv4 | undefined {
  if (ip.kind() !== 'ipv6') return undefined
  const p = (ip as ipaddr.IPv6).parts
  const last32 = (hi: number, lo: number): ipaddr.IPv4 => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff])
  const zero = (from: number, to: number): boolean => p.slice(from, to).every(x => x === 0)
  if (zero(0, 5) && p[5] === 0xffff) return last32(p[6]!, p[7]!) // ::ffff:a.b.c.d
  if (zero(0, 4) && p[4] === 0xffff && p[5] === 0) return last32(p[6]!, p[7]!) // ::ffff:0:a.b.c.d
  if (p[0] === 0x64 && p[1] === 0xff9b && zero(2, 6)) return last32(p[6]!, p[7]!) // 64:ff9b::a.b.c.d
  if (p[0] === 0x2002) return last32(p[1]!, p[2]!) // 2002:aabb:ccdd::
  return undefined
}

function embeddingName (ip: ipaddr.IPv6): string {
  const p = ip.parts
  if (p[0] === 0x64) return 'NAT64'
  if (p[0] === 0x2002) return '6to4'
  return 'IPv4-mapped'
}

function describe (range: string): string {
  const names: Record<string, string> = {
    loopback: 'a loopback address',
    private: 'a private address',
    linkLocal: 'a link-local address',
    metadata: 'a cloud metadata address',
    multicast: 'a multicast address',
    broadcast: 'the broadcast address',
    unspecified: 'an unspecified address',
    carrierGradeNat: 'a carrier-grade NAT address'
  }
  const base = range.replace(/ \(.*\)$/, '')
  const via = range.slice(base.length)
  return `${names[base] ?? `a special-purpose address (${base})`}${via}`
}

function parseAddress (address: string): Address | undefined {
  const text = unbracket(address).replace(/%.*$/, '') // drop an IPv6 zone id
  if (!isStrictIp(text)) return undefined
  return ipaddr.parse(text)
}

/** Dotted-quad IPv4 or IPv6 only: ipaddr.isValid also takes '0x7f.1' and '2130706433'. */
function isStrictIp (text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) || (text.includes(':') && ipaddr.IPv6.isValid(text))
}

function unbracket (text: string): string {
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
}

function normalizeHost (hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '')
}

function isAllowList (value: unknown): value is AllowList {
  return typeof value === 'object' && value !== null && 'cidrs' in value && 'hosts' in value
}
