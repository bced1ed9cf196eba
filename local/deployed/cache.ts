/**
 * The cache a template provisions (AWS::ElastiCache::ReplicationGroup), played by local
 * redis-server processes: as many shards and replicas per shard as the template says, cluster mode
 * or a primary with replicas, TLS when in-transit encryption is on, the AUTH token, and the
 * parameter group's settings (maxmemory-policy, ...). Like ElastiCache with TLS, cluster nodes
 * announce host names (CLUSTER SLOTS answers names), which the functions' network resolves to
 * these processes.
 *
 * Each node also listens on a plain port on 127.0.0.1 that no function is routed to: the local
 * stack and the tests use it to look inside (keys, MONITOR), as an operator console would.
 */
import { respCommand, RespError, parseInfo } from '../services/resp';
import { freePorts } from '../services/free-port';
import { startRedisServer, type RedisServer } from '../services/redis-server';
import type { LocalCertificates } from './certificates';
import type { DeployedCache } from './model';

const CLUSTER_SLOTS = 16384;
/** ElastiCache parameters that redis-server takes as they are. */
const PASSED_PARAMETERS = new Set([
  'maxmemory-policy',
  'maxmemory-samples',
  'timeout',
  'tcp-keepalive',
  'notify-keyspace-events',
  'slowlog-log-slower-than',
]);
/** Parameters that describe what the template already says elsewhere (cluster-enabled: ClusterMode). */
const IGNORED_PARAMETERS = new Set(['cluster-enabled']);

export interface LocalCacheNode {
  readonly server: RedisServer;
  /** The name it announces and the functions' network resolves. */
  readonly hostname: string;
  /** Where clients connect: the TLS port with in-transit encryption, else the plain port. */
  readonly clientPort: number;
  readonly busPort: number;
  readonly shard: number;
  readonly primary: boolean;
}

export interface LocalCache {
  readonly cache: DeployedCache;
  readonly nodes: readonly LocalCacheNode[];
  readonly password: string | undefined;
  /** Host name (and port) → local port, for the functions' network. */
  readonly routes: readonly { readonly host: string; readonly port: number; readonly to: number }[];
  /** Plain admin ports on 127.0.0.1 (tests). */
  readonly adminNodes: readonly { readonly host: string; readonly port: number }[];
  stop(): Promise<void>;
}

export async function startLocalCache(
  cache: DeployedCache,
  settings: { password?: string; certificates?: LocalCertificates },
): Promise<LocalCache> {
  if (cache.transitEncryption && settings.certificates === undefined)
    throw new Error(`${cache.logicalId}: in-transit encryption needs certificates`);
  const extra: string[] = [];
  for (const [name, value] of Object.entries(cache.parameters)) {
    if (IGNORED_PARAMETERS.has(name)) continue;
    if (!PASSED_PARAMETERS.has(name))
      throw new Error(`${cache.stack}/${cache.logicalId}: cache parameter ${name} is not supported by the as-deployed mode`);
    extra.push(`--${name}`, value);
  }
  const domain = cache.endpoint.host.replace(/^(clustercfg|master)\./, '');
  const total = cache.shards * (1 + cache.replicasPerShard);
  // Per node: plain (admin) port, TLS port, cluster bus port.
  const ports = await freePorts(total * 3);
  const nodes: LocalCacheNode[] = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.server.stop()));
  };
  try {
    for (let shard = 0; shard < cache.shards; shard++) {
      for (let member = 0; member <= cache.replicasPerShard; member++) {
        const index = shard * (1 + cache.replicasPerShard) + member;
        const tlsPort = ports[index * 3 + 1] as number;
        const busPort = ports[index * 3 + 2] as number;
        const hostname = `${cache.id}-${String(shard + 1).padStart(4, '0')}-${String(member + 1).padStart(3, '0')}.${domain}`;
        const tls =
          cache.transitEncryption && settings.certificates !== undefined
            ? [
                '--tls-port',
                String(tlsPort),
                '--tls-cert-file',
                settings.certificates.certFile,
                '--tls-key-file',
                settings.certificates.keyFile,
                '--tls-ca-cert-file',
                settings.certificates.caFile,
                '--tls-auth-clients',
                'no',
                '--tls-replication',
                'yes',
                '--tls-cluster',
                'yes',
              ]
            : [];
        const clusterArgs = cache.clusterMode
          ? [
              '--cluster-enabled',
              'yes',
              '--cluster-port',
              String(busPort),
              '--cluster-node-timeout',
              '2000',
              '--cluster-announce-hostname',
              hostname,
              '--cluster-preferred-endpoint-type',
              'hostname',
            ]
          : [];
        const server = await startRedisServer({
          port: ports[index * 3] as number,
          ...(settings.password !== undefined ? { password: settings.password } : {}),
          args: [...tls, ...clusterArgs, ...extra],
        });
        nodes.push({
          server,
          hostname,
          clientPort: cache.transitEncryption ? tlsPort : server.port,
          busPort,
          shard,
          primary: member === 0,
        });
      }
    }
    const password = settings.password;
    const admin = (node: LocalCacheNode, args: string[]) => respCommand(node.server.host, node.server.port, args, 2000, password);
    const ok = async (node: LocalCacheNode, args: string[]) => {
      const reply = await admin(node, args);
      if (reply instanceof RespError) throw new Error(`${args.join(' ')} on ${node.hostname}: ${reply.message}`);
      return reply;
    };
    if (cache.clusterMode) {
      const first = nodes[0] as LocalCacheNode;
      for (const node of nodes.slice(1)) await ok(node, ['CLUSTER', 'MEET', '127.0.0.1', String(first.clientPort), String(first.busPort)]);
      const primaries = nodes.filter((n) => n.primary);
      for (const [i, node] of primaries.entries()) {
        const from = Math.floor((i * CLUSTER_SLOTS) / primaries.length);
        const to = Math.floor(((i + 1) * CLUSTER_SLOTS) / primaries.length) - 1;
        await ok(node, ['CLUSTER', 'ADDSLOTSRANGE', String(from), String(to)]);
      }
      await waitFor(async () => {
        for (const node of nodes) {
          const info = parseInfo(String(await admin(node, ['CLUSTER', 'INFO'])));
          if (info.cluster_known_nodes !== String(nodes.length)) return false;
        }
        return true;
      }, 'every node to know every other');
      for (const node of nodes.filter((n) => !n.primary)) {
        const primary = primaries.find((p) => p.shard === node.shard) as LocalCacheNode;
        await ok(node, ['CLUSTER', 'REPLICATE', String(await ok(primary, ['CLUSTER', 'MYID']))]);
      }
      await waitFor(async () => {
        for (const node of nodes) {
          const info = parseInfo(String(await admin(node, ['CLUSTER', 'INFO'])));
          if (
            info.cluster_state !== 'ok' ||
            info.cluster_slots_ok !== String(CLUSTER_SLOTS) ||
            info.cluster_size !== String(primaries.length)
          )
            return false;
          if (!node.primary && parseInfo(String(await admin(node, ['INFO', 'replication']))).master_link_status !== 'up') return false;
        }
        return true;
      }, 'the cluster to be ready');
    } else {
      for (const node of nodes.filter((n) => !n.primary)) {
        const primary = nodes.find((p) => p.primary && p.shard === node.shard) as LocalCacheNode;
        await ok(node, ['REPLICAOF', '127.0.0.1', String(primary.server.port)]);
      }
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const primary = nodes[0] as LocalCacheNode;
  const routes = [
    { host: cache.endpoint.host, port: cache.endpoint.port, to: primary.clientPort },
    ...nodes.map((n) => ({ host: n.hostname, port: n.clientPort, to: n.clientPort })),
  ];
  return {
    cache,
    nodes,
    password: settings.password,
    routes,
    adminNodes: nodes.map((n) => ({ host: n.server.host, port: n.server.port })),
    stop: stopAll,
  };
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`local cache: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
