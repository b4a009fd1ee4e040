import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { loadConfig } from '../src/config.js'
import { Env } from '../src/schema/config.js'

// compose.yaml, checked without Docker: every Jetway service's environment is one the service
// accepts (with the Dockerfile's ENV under it), and the `cluster` profile is a 3-node NATS
// cluster and one PostgreSQL with two Jetway instances at R3 sharing their read models there,
// each with its own port and volumes.

interface Service {
  image?: string
  build?: string
  profiles?: string[]
  command?: string[]
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
  depends_on?: string[]
}
const compose = parse(readFileSync(new URL('../compose.yaml', import.meta.url), 'utf8'), { merge: true }) as { services: Record<string, Service>, volumes: Record<string, unknown> }
const services = compose.services

/** The Dockerfile's ENV, which the image starts with. */
const IMAGE_ENV = Object.fromEntries([...readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8').matchAll(/^ENV (.+)$/gm)]
  .flatMap(m => m[1]!.split(/\s+/).map(kv => kv.split('=') as [string, string])))

/** `${NAME:-default}` as Compose resolves it with NAME unset. */
const resolveDefaults = (value: string): string => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')

const flag = (command: string[], name: string): string | undefined => command[command.indexOf(name) + 1]

/** A NATS service's config file on the host, from its -c flag and the volume that mounts it. */
function configFileOf (service: Service): string | undefined {
  const inContainer = flag(service.command ?? [], '-c')
  const mount = (service.volumes ?? []).find(v => v.split(':')[1] === inContainer)
  return mount?.split(':')[0]
}

t.test('every NATS service fsyncs each write before its acknowledgement (sync_interval: always, 2.10+)', async t => {
  const nodes = Object.entries(services).filter(([, s]) => s.image?.startsWith('nats:'))
  t.equal(nodes.length, 4)
  for (const [name, node] of nodes) {
    const [major, minor] = (node.image ?? '').slice('nats:'.length).split('.').map(Number)
    t.ok(major! > 2 || (major === 2 && minor! >= 10), `${name}: ${node.image ?? ''} has sync_interval (2.10 and later)`)
    t.equal((node.command ?? [])[0], '-c', `${name}: the config file first, the flags override it`)
    const file = configFileOf(node)
    t.ok(file?.endsWith('.conf'), `${name}: the config file is mounted`)
    t.ok(node.volumes?.find(v => v.startsWith(`${file ?? ''}:`))?.endsWith(':ro'), `${name}: read-only`)
    const text = readFileSync(new URL(`../${file ?? ''}`, import.meta.url), 'utf8').replace(/#.*$/gm, '')
    t.match(text, /jetstream\s*\{[^}]*\bsync_interval:\s*always\b[^}]*\}/, `${name}: sync_interval: always in its jetstream block`)
  }
})

t.test('every Jetway service starts with its environment', async t => {
  const jetways = Object.entries(services).filter(([, s]) => s.build !== undefined)
  t.same(jetways.map(([name]) => name).sort(), ['jetway', 'jetway-1', 'jetway-2'])
  t.equal(IMAGE_ENV.NODE_ENV, 'production')
  for (const [name, service] of jetways) {
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, resolveDefaults(String(v))]))
    const unknown = Object.keys(env).filter(k => !(k in Env.properties))
    t.same(unknown, [], `${name}: every variable is one the service reads`)
    const config = loadConfig({ ...IMAGE_ENV, ...env })
    t.ok(config.natsUrl, `${name}: an external NATS`)
    t.same((service.ports ?? []).map(p => p.split(':').at(-1)), [String(config.port)], `${name}: the published port is the one it listens on`)
  }
})

t.test('profile cluster: 3 NATS nodes routed to each other, one PostgreSQL, two Jetway instances at R3 sharing it', async t => {
  const inProfile = Object.entries(services).filter(([, s]) => s.profiles?.includes('cluster'))
  const nodes = inProfile.filter(([, s]) => s.image?.startsWith('nats:'))
  const instances = inProfile.filter(([, s]) => s.build !== undefined)
  const databases = inProfile.filter(([, s]) => s.image?.startsWith('postgres:'))
  t.equal(nodes.length, 3)
  t.equal(instances.length, 2)
  t.equal(databases.length, 1, 'one PostgreSQL')
  const [pgName, pgService] = databases[0]!
  const pgEnv = Object.fromEntries(Object.entries(pgService.environment ?? {}).map(([k, v]) => [k, resolveDefaults(String(v))]))
  t.match(pgService.volumes?.[0], /^[\w-]+:\/var\/lib\/postgresql$/, 'its data on a volume (the postgres:18 image keeps it under /var/lib/postgresql)')
  t.ok(pgService.volumes![0]!.split(':')[0]! in compose.volumes)
  for (const [, s] of Object.entries(services).filter(([, s]) => s.profiles === undefined)) t.notOk(s.depends_on?.some(d => services[d]?.profiles !== undefined), 'the default services need nothing of the profile')

  const names = nodes.map(([name]) => name)
  const serverNames = new Set<string>()
  for (const [name, node] of nodes) {
    const command = node.command ?? []
    t.match(node.image, /^nats:2\.\d+$/, `${name}: a 2.x server`)
    t.ok(command.includes('-js'), `${name}: JetStream on`)
    t.equal(flag(command, '-sd'), '/data')
    t.equal(flag(command, '--cluster_name'), 'jetway', `${name}: one cluster name`)
    t.match(flag(command, '--cluster'), /^nats:\/\/0\.0\.0\.0:6222$/)
    serverNames.add(flag(command, '--server_name') ?? '')
    const routes = (flag(command, '--routes') ?? '').split(',')
    t.same(routes.map(r => /^nats:\/\/([^:]+):6222$/.exec(r)?.[1]).sort(), names.sort(), `${name}: routes to every node`)
    t.equal(node.volumes?.filter(v => v.startsWith('nats-')).length, 1, `${name}: a data volume of its own`)
  }
  t.equal(serverNames.size, 3, 'unique server names (JetStream needs them)')
  t.equal(new Set(nodes.map(([, n]) => n.volumes?.[0])).size, 3)

  const hostPorts = new Set<string>()
  const volumes = new Set<string>()
  const secrets = new Set<string>()
  const readModels = new Set<string>()
  for (const [name, instance] of instances) {
    const env = instance.environment ?? {}
    t.same(env.NATS_URL?.split(',').map(u => /^nats:\/\/([^:]+):4222$/.exec(u)?.[1]).sort(), names.sort(), `${name}: NATS_URL names the three nodes`)
    t.equal(env.STREAM_REPLICAS, '3', `${name}: R3`)
    t.same(instance.depends_on?.slice().sort(), [...names, pgName].sort())
    const url = new URL(resolveDefaults(env.READ_MODEL_URL ?? ''))
    t.same([url.protocol, url.hostname, url.port, url.username, url.password, url.pathname],
      ['postgres:', pgName, '5432', pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, `/${pgEnv.POSTGRES_DB}`], `${name}: READ_MODEL_URL is that PostgreSQL's database and user`)
    readModels.add(url.toString())
    secrets.add(resolveDefaults(env.TASK_TOKEN_SECRET ?? ''))
    for (const p of instance.ports ?? []) hostPorts.add(p.split(':').slice(0, -1).join(':'))
    for (const v of instance.volumes ?? []) volumes.add(v.split(':')[0]!)
    t.equal(loadConfig({ ...IMAGE_ENV, ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, resolveDefaults(v)])) }).stream.replicas, 3)
  }
  t.equal(hostPorts.size, 2, 'different host ports')
  t.equal(volumes.size, 2, 'a data volume each')
  t.equal(secrets.size, 1, 'one task token secret for the fleet')
  t.equal(readModels.size, 1, 'one database for the fleet\'s read models')
  for (const v of [...volumes, ...nodes.map(([, n]) => n.volumes![0]!.split(':')[0]!)]) t.ok(v in compose.volumes, `volume ${v} is declared`)
})
