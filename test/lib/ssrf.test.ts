import t from 'tap'
import { addressPolicy, hostRefusal, parseAllowList, rangeOf } from '../../src/lib/ssrf.js'

t.test('by default only global unicast passes', async t => {
  const policy = addressPolicy()
  const refused: Record<string, string> = {
    '127.0.0.1': 'loopback',
    '127.255.0.9': 'loopback',
    '::1': 'loopback',
    '10.0.0.1': 'private',
    '172.16.5.4': 'private',
    '172.31.255.255': 'private',
    '192.168.1.1': 'private',
    'fc00::1': 'private',
    'fd12:3456::1': 'private',
    '169.254.1.1': 'linkLocal',
    'fe80::1': 'linkLocal',
    '169.254.169.254': 'metadata',
    'fd00:ec2::254': 'metadata',
    '224.0.0.1': 'multicast',
    '239.255.255.250': 'multicast',
    'ff02::1': 'multicast',
    '0.0.0.0': 'unspecified',
    '0.1.2.3': 'unspecified',
    '::': 'unspecified',
    '100.64.0.1': 'carrierGradeNat',
    '100.127.255.254': 'carrierGradeNat',
    '255.255.255.255': 'broadcast',
    '192.0.2.1': 'reserved',
    '240.0.0.1': 'reserved',
    '2001:db8::1': 'reserved',
    '::7f00:1': 'reserved'
  }
  for (const [address, range] of Object.entries(refused)) {
    const verdict = policy.check(address)
    t.equal(verdict.allowed, false, `${address} refused`)
    t.equal(rangeOf(address), range, `${address} is ${range}`)
  }
  for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e']) {
    t.same(policy.check(address), { allowed: true }, `${address} passes`)
    t.equal(rangeOf(address), 'public')
  }
  t.match(policy.check('10.0.0.1'), { allowed: false, address: '10.0.0.1', range: 'private', reason: '10.0.0.1 is a private address' })
  t.match(policy.check('169.254.169.254'), { reason: /cloud metadata/ })
  t.equal(policy.check('not-an-ip').allowed, false, 'garbage is refused, not passed')
  t.equal(policy.check('2130706433').allowed, false, 'only dotted quads count as IPv4')
})

t.test('IPv6 forms carrying an IPv4 address are judged by that address', async t => {
  const policy = addressPolicy()
  const cases: Record<string, string> = {
    '::ffff:127.0.0.1': 'loopback (IPv4-mapped)',
    '::ffff:7f00:1': 'loopback (IPv4-mapped)',
    '::ffff:10.1.2.3': 'private (IPv4-mapped)',
    '::ffff:169.254.169.254': 'metadata (IPv4-mapped)',
    '::ffff:0:127.0.0.1': 'loopback (IPv4-mapped)',
    '64:ff9b::127.0.0.1': 'loopback (NAT64)',
    '64:ff9b::a9fe:a9fe': 'metadata (NAT64)',
    '64:ff9b::192.168.0.1': 'private (NAT64)',
    '64:ff9b::100.64.0.1': 'carrierGradeNat (NAT64)',
    '2002:7f00:1::': 'loopback (6to4)',
    '2002:a00:1::1': 'private (6to4)'
  }
  for (const [address, range] of Object.entries(cases)) {
    t.equal(policy.check(address).allowed, false, `${address} refused`)
    t.equal(rangeOf(address), range, `${address} is ${range}`)
  }
  t.match(policy.check('[::ffff:127.0.0.1]'), { allowed: false }, 'brackets are read')
  t.match(policy.check('fe80::1%eth0'), { allowed: false, range: 'linkLocal' }, 'a zone id is read')
  for (const address of ['::ffff:8.8.8.8', '64:ff9b::8.8.8.8', '2002:808:808::1']) {
    t.same(policy.check(address), { allowed: true }, `${address} carries a public address`)
  }
  t.equal(policy.check('64:ff9b:1::a00:1').allowed, false, 'local-use NAT64 (64:ff9b:1::/48) is refused')
  t.equal(policy.check('2001::1').allowed, false, 'Teredo is refused')
})

t.test('RELAY_ALLOW lets CIDRs, IPs and host names through', async t => {
  const policy = addressPolicy(['127.0.0.0/8', '::1/128', '10.1.0.0/16', '192.168.7.7', 'fd00::/8', 'internal.example', '*.svc.cluster.local'])
  t.same(policy.check('127.0.0.1'), { allowed: true })
  t.same(policy.check('127.9.9.9'), { allowed: true })
  t.same(policy.check('::1'), { allowed: true })
  t.same(policy.check('::ffff:127.0.0.1'), { allowed: true }, 'the mapped form of an allowed IPv4')
  t.same(policy.check('64:ff9b::10.1.2.3'), { allowed: true }, 'the NAT64 form of an allowed IPv4')
  t.same(policy.check('10.1.200.1'), { allowed: true })
  t.equal(policy.check('10.2.0.1').allowed, false, 'outside the CIDR')
  t.same(policy.check('192.168.7.7'), { allowed: true }, 'a bare IP is a /32')
  t.equal(policy.check('192.168.7.8').allowed, false)
  t.same(policy.check('fd00:ec2::254'), { allowed: true }, 'listed on purpose')
  t.equal(policy.check('169.254.169.254').allowed, false, 'metadata stays refused')

  t.same(policy.check('10.9.9.9', 'internal.example'), { allowed: true }, 'any address of an allowed host')
  t.same(policy.check('10.9.9.9', 'INTERNAL.example.'), { allowed: true }, 'case and trailing dot')
  t.equal(policy.check('10.9.9.9', 'other.example').allowed, false)
  t.equal(policy.check('10.9.9.9', 'sub.internal.example').allowed, false, 'an exact name does not cover subdomains')
  t.same(policy.check('10.9.9.9', 'api.ns.svc.cluster.local'), { allowed: true }, '*. covers subdomains')
  t.equal(policy.check('10.9.9.9', 'svc.cluster.local').allowed, false, '*. is subdomains only')
  t.equal(policy.allowsHost('internal.example'), true)
  t.equal(policy.allowsHost('evilinternal.example'), false)
})

t.test('a bad RELAY_ALLOW entry is an error naming it', async t => {
  t.throws(() => parseAllowList(['10.0.0.0/33']), /10\.0\.0\.0\/33: not a CIDR/)
  t.throws(() => parseAllowList(['bad host!']), /bad host!: not a CIDR, an IP address or a host name/)
  t.throws(() => parseAllowList(['10.0.0']), /not a CIDR, an IP address or a host name/)
  t.throws(() => parseAllowList(['a..b']), /not a CIDR/)
  const list = parseAllowList([' 127.0.0.0/8 ', '', 'Internal.Example', '*.Corp.example', '[::1]'])
  t.equal(list.cidrs.length, 2)
  t.same([...list.hosts], ['internal.example'])
  t.same(list.suffixes, ['.corp.example'])
})

t.test('hostRefusal: IP literals and localhost judged before any call, other host names left to the connect-time check', async t => {
  const none = addressPolicy([])
  t.equal(hostRefusal(none, '127.0.0.1'), '127.0.0.1 is a loopback address')
  t.equal(hostRefusal(none, '[::1]'), '::1 is a loopback address')
  t.equal(hostRefusal(none, 'LocalHost.'), 'localhost is a loopback address')
  t.equal(hostRefusal(none, 'api.localhost'), 'api.localhost is a loopback address')
  t.equal(hostRefusal(none, '169.254.169.254'), '169.254.169.254 is a cloud metadata address')
  t.equal(hostRefusal(none, 'hooks.example.com'), undefined)
  t.equal(hostRefusal(none, '93.184.215.14'), undefined)
  t.equal(hostRefusal(addressPolicy(['127.0.0.0/8']), 'localhost'), undefined, 'RELAY_ALLOW 127.0.0.0/8 takes localhost')
  t.equal(hostRefusal(addressPolicy(['localhost']), 'localhost'), undefined, 'and so does the name itself')
})
