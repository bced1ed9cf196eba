/**
 * The network as deployed: which local endpoint each function can reach, decided from the
 * template the way AWS routes packets. A function outside any VPC reaches the public AWS endpoints
 * and the internet, never the cache. A function in a VPC reaches the cache when the security
 * groups on both sides allow the port, an AWS service through a gateway endpoint on its subnet's
 * route table or an interface endpoint (private DNS, port 443 allowed both ways), and anything
 * else only through a NAT or internet gateway route. Everything it cannot reach is black-holed:
 * its connection attempts stay unanswered until the client's own timeout, as without a NAT.
 */
import type { DeployedCache, DeployedFunction, DeployedNetwork, SecurityGroupRule } from './model';

/** A host name and port a function may resolve and connect to, and the local port behind it. */
export interface Route {
  readonly host: string;
  readonly port: number;
  readonly to: { readonly host: string; readonly port: number };
}

/** Something the local deployment serves under a public name. */
export type LocalEndpoint =
  /** An AWS API (dynamodb, secretsmanager, execute-api, cloudfront, ...). */
  | { readonly kind: 'aws'; readonly service: string; readonly routes: readonly Route[] }
  /** A host on the internet (e.g. the identity provider's JWKS). */
  | { readonly kind: 'internet'; readonly routes: readonly Route[] }
  /** A cache in the VPC. */
  | { readonly kind: 'cache'; readonly cache: DeployedCache; readonly routes: readonly Route[] };

export interface FunctionNetwork {
  /** Routes the function may use; every other destination is black-holed. */
  readonly routes: readonly Route[];
  /** Why each unreachable endpoint is unreachable (for start-up diagnostics). */
  readonly unreachable: readonly string[];
}

export function functionNetwork(fn: DeployedFunction, network: DeployedNetwork, endpoints: readonly LocalEndpoint[]): FunctionNetwork {
  const routes: Route[] = [];
  const unreachable: string[] = [];
  for (const endpoint of endpoints) {
    const verdict = reach(fn, network, endpoint);
    if (verdict === true) routes.push(...endpoint.routes);
    else unreachable.push(verdict);
  }
  return { routes, unreachable };
}

/** true, or why not. */
function reach(fn: DeployedFunction, network: DeployedNetwork, endpoint: LocalEndpoint): true | string {
  const label = endpoint.kind === 'cache' ? `cache ${endpoint.cache.id}` : endpoint.kind === 'aws' ? endpoint.service : 'internet';
  if (fn.vpc === undefined) return endpoint.kind === 'cache' ? `${label}: the function is not in the cache's VPC` : true;

  const subnets = fn.vpc.subnetIds.map((id) => network.subnets.get(id));
  const vpcId = subnets.find((s) => s !== undefined)?.vpcId;
  const groups = fn.vpc.securityGroupIds;
  const egressAllows = (port: number, target: { securityGroupIds?: readonly string[] }) =>
    groups.some((g) => (network.securityGroups.get(g)?.egress ?? []).some((r) => allows(r, port, target.securityGroupIds)));

  if (endpoint.kind === 'cache') {
    const cacheGroups = endpoint.cache.securityGroupIds;
    const cacheVpc = cacheGroups.map((g) => network.securityGroups.get(g)?.vpcId).find((v) => v !== undefined);
    if (cacheVpc !== vpcId) return `${label}: in another VPC`;
    const port = endpoint.cache.port;
    if (!egressAllows(port, { securityGroupIds: cacheGroups })) return `${label}: no egress rule of the function allows port ${port}`;
    const ingressAllows = cacheGroups.some((g) => (network.securityGroups.get(g)?.ingress ?? []).some((r) => allows(r, port, groups)));
    return ingressAllows ? true : `${label}: the cache's security groups admit no traffic from the function on port ${port}`;
  }

  const internet = subnets.some(
    (s) => s?.routeTableId !== undefined && (network.internetRoutes.get(s.routeTableId) ?? []).includes('0.0.0.0/0'),
  );
  if (endpoint.kind === 'aws') {
    for (const e of network.endpoints) {
      if (e.service !== endpoint.service || e.vpcId !== vpcId) continue;
      if (e.type === 'Gateway' && subnets.some((s) => s?.routeTableId !== undefined && e.routeTableIds.includes(s.routeTableId))) {
        if (egressAllows(443, {})) return true;
      }
      if (e.type === 'Interface' && e.privateDns) {
        const admitted = e.securityGroupIds.some((g) => (network.securityGroups.get(g)?.ingress ?? []).some((r) => allows(r, 443, groups)));
        if (admitted && egressAllows(443, { securityGroupIds: e.securityGroupIds })) return true;
      }
    }
  }
  if (internet && egressAllows(443, {})) return true;
  return `${label}: the function runs in a VPC without an endpoint for it or a NAT route`;
}

/** Whether a rule lets TCP `port` through to/from a peer with one of `peerGroups` (or any address). */
function allows(rule: SecurityGroupRule, port: number, peerGroups: readonly string[] = []): boolean {
  if (rule.protocol !== '-1' && rule.protocol !== 'tcp' && rule.protocol !== '6') return false;
  if (port < rule.fromPort || port > rule.toPort) return false;
  if (rule.securityGroupId !== undefined) return peerGroups.includes(rule.securityGroupId);
  // Any CIDR covering the VPC's private addresses counts as "anywhere" here: the local deployment
  // does not place endpoints at addresses, so a narrower CIDR is treated as the VPC's.
  return rule.cidr !== undefined;
}
