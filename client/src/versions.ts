/**
 * What a channel's subscribers have already seen, so nothing older reaches them again.
 *
 * - Versioned entities (stock, product, order) grow their `version` by one per committed change;
 *   a message whose version is not newer than the one recorded is dropped. A product channel
 *   carries two entities, stock (`stock:update`, the snapshot's `version`) and the product
 *   (`product:updated`, the snapshot's `product.version`), each with its own counter.
 * - Dashboard figures have no version: ordered by `timestamp`, and the dashboard snapshot (it has
 *   no timestamp) is always delivered.
 * - A snapshot is delivered when it is the channel's first, or when any version in it is newer
 *   than what was seen (after a reconnect: nothing happened meanwhile means nothing to deliver).
 * - The latest accepted messages are kept (the snapshot and the newest update of each entity
 *   since), so a callback that joins an already subscribed channel starts from the current state.
 */
import type { Channel, ServerMessage } from './messages';

type Part = readonly [entity: string, version: number];

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function snapshotParts(channel: Channel, snapshot: unknown): Part[] {
  if (typeof snapshot !== 'object' || snapshot === null) return [];
  const parts: Part[] = [];
  const { version, product } = snapshot as { version?: unknown; product?: { version?: unknown } | null };
  if (channel.startsWith('product:')) {
    if (isNumber(version)) parts.push(['stock', version]);
    if (isNumber(product?.version)) parts.push(['product', product.version]);
  } else if (channel.startsWith('order:') && isNumber(version)) {
    parts.push(['order', version]);
  }
  return parts;
}

/** The entity and version of an update; undefined when it carries no usable version. */
function updatePart(message: ServerMessage): Part | undefined {
  switch (message.type) {
    case 'stock:update':
      return isNumber(message.version) ? ['stock', message.version] : undefined;
    case 'product:updated':
      return isNumber(message.version) ? ['product', message.version] : undefined;
    case 'order:update':
      return isNumber(message.version) ? ['order', message.version] : undefined;
    case 'subscribed':
    case 'unsubscribed':
    case 'dashboard:metric':
    case 'refetch':
    case 'pong':
    case 'error':
      return undefined;
  }
}

export class ChannelVersions {
  private readonly versions = new Map<string, number>();
  private lastTimestamp: number | undefined;
  private snapshot: ServerMessage | undefined;
  /** Newest accepted update per entity (and the dashboard figures), after the snapshot. */
  private readonly latest = new Map<string, { message: ServerMessage; version?: number }>();

  constructor(private readonly channel: Channel) {}

  /** true when the message is news to this channel's subscribers (and it is recorded as seen). */
  accept(message: ServerMessage): boolean {
    switch (message.type) {
      case 'subscribed':
        return this.acceptSnapshot(message);
      case 'dashboard:metric': {
        const at = Date.parse(message.timestamp);
        if (Number.isNaN(at)) return true;
        if (this.lastTimestamp !== undefined && at <= this.lastTimestamp) return false;
        this.lastTimestamp = at;
        this.latest.set('dashboard', { message });
        return true;
      }
      case 'refetch':
      case 'unsubscribed':
      case 'pong':
      case 'error':
        return true;
      case 'stock:update':
      case 'product:updated':
      case 'order:update': {
        const part = updatePart(message);
        if (!part) return true;
        const [entity, version] = part;
        const known = this.versions.get(entity);
        if (known !== undefined && version <= known) return false;
        this.versions.set(entity, version);
        this.latest.set(entity, { message, version });
        return true;
      }
    }
  }

  /** The current state as messages, oldest first: the snapshot, then newer updates. */
  replay(): ServerMessage[] {
    return [...(this.snapshot ? [this.snapshot] : []), ...[...this.latest.values()].map((entry) => entry.message)];
  }

  private acceptSnapshot(message: ServerMessage & { type: 'subscribed' }): boolean {
    const parts = snapshotParts(this.channel, message.snapshot);
    const first = this.snapshot === undefined && this.versions.size === 0;
    const newer = parts.some(([entity, version]) => {
      const known = this.versions.get(entity);
      return known === undefined || version > known;
    });
    if (!first && parts.length > 0 && !newer) return false;
    const inSnapshot = new Map(parts);
    for (const [entity, version] of parts) this.versions.set(entity, Math.max(version, this.versions.get(entity) ?? version));
    this.snapshot = message;
    // Updates the snapshot already contains are no longer part of the replay; newer ones stay.
    for (const [entity, entry] of this.latest) {
      const covered = inSnapshot.get(entity);
      if (entity === 'dashboard' || (covered !== undefined && entry.version !== undefined && entry.version <= covered))
        this.latest.delete(entity);
    }
    return true;
  }
}
