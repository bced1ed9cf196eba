/**
 * Shard lineage, which DynamoDB Local rarely shows (its shards seldom roll over): a scripted
 * DynamoDB Streams client. Open shards start at their tip (read from TRIM_HORIZON to it at start:
 * LATEST is never asked of DynamoDB Local); closed shards found at start are skipped;
 * a child found later starts at TRIM_HORIZON, and only once its parent has been read to the end.
 */
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { StreamPoller } from '../../local/stream-poller';

interface ScriptedShard {
  id: string;
  parent?: string;
  closed: boolean;
  records: string[];
}

/** Just enough of DescribeStream, GetShardIterator and GetRecords, driven by `shards`. */
function scriptedStreams(shards: ScriptedShard[]) {
  const iteratorCalls: { shard: string; type: string }[] = [];
  type Command = { constructor: { name: string }; input: Record<string, unknown> };
  const client = {
    /** As the SDK's: a throw of answer() becomes a rejection. */
    send(command: Command): Promise<unknown> {
      return new Promise((resolve) => resolve(client.answer(command)));
    },
    answer(command: Command) {
      const input = command.input;
      switch (command.constructor.name) {
        case 'DescribeStreamCommand':
          return {
            StreamDescription: {
              Shards: shards.map((s) => ({
                ShardId: s.id,
                ...(s.parent ? { ParentShardId: s.parent } : {}),
                SequenceNumberRange: { StartingSequenceNumber: '1', ...(s.closed ? { EndingSequenceNumber: '999' } : {}) },
              })),
            },
          };
        case 'GetShardIteratorCommand': {
          const shard = input.ShardId as string;
          const type = input.ShardIteratorType as string;
          iteratorCalls.push({ shard, type });
          // LATEST skips what is there now; TRIM_HORIZON starts at the first record.
          const position = type === 'LATEST' ? (shards.find((s) => s.id === shard)?.records.length ?? 0) : 0;
          return { ShardIterator: `${shard}|${position}` };
        }
        case 'GetRecordsCommand': {
          const [id, at] = (input.ShardIterator as string).split('|') as [string, string];
          const shard = shards.find((s) => s.id === id) as ScriptedShard;
          const position = Number(at);
          const records = shard.records.slice(position).map((pk, i) => ({
            eventID: `${id}-${position + i}`,
            eventName: 'INSERT',
            dynamodb: {
              Keys: { pk: { S: pk } },
              SequenceNumber: String(position + i + 1).padStart(5, '0'),
              StreamViewType: 'NEW_AND_OLD_IMAGES',
            },
          }));
          const end = position + records.length;
          // A closed shard read to its end has no next iterator.
          const next = shard.closed && end >= shard.records.length ? undefined : `${id}|${end}`;
          return { Records: records, NextShardIterator: next };
        }
        default:
          throw new Error(`unexpected ${command.constructor.name}`);
      }
    },
    destroy() {},
  };
  return { client: client as unknown as DynamoDBStreamsClient, iteratorCalls };
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('reads a child shard from TRIM_HORIZON only after its parent is done, and skips history at start', async () => {
  const shards: ScriptedShard[] = [
    { id: 'old', closed: true, records: ['history-1'] },
    { id: 'parent', parent: 'old', closed: false, records: ['before-start'] },
  ];
  const { client, iteratorCalls } = scriptedStreams(shards);
  const seen: string[] = [];
  const poller = new StreamPoller({
    streamArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x',
    streams: client,
    handler: (event: DynamoDBStreamEvent) => {
      seen.push(...event.Records.map((r) => r.dynamodb?.Keys?.pk?.S as string));
    },
    pollIntervalMs: 20,
    shardRefreshMs: 30,
  });
  await poller.start();
  try {
    expect(iteratorCalls).toEqual([{ shard: 'parent', type: 'TRIM_HORIZON' }]);

    // The parent gets a record, then a child shard appears while the parent is still open.
    const parent = shards[1] as ScriptedShard;
    parent.records.push('p-1');
    await waitFor(() => seen.includes('p-1'));
    shards.push({ id: 'child', parent: 'parent', closed: false, records: ['c-1', 'c-2'] });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(iteratorCalls.some((c) => c.shard === 'child')).toBe(false);

    // The parent closes with a last record: it is read to the end, then the child from its start.
    parent.records.push('p-2');
    parent.closed = true;
    await waitFor(() => seen.includes('c-2'));
    expect(seen).toEqual(['p-1', 'p-2', 'c-1', 'c-2']);
    expect(iteratorCalls).toContainEqual({ shard: 'child', type: 'TRIM_HORIZON' });
    expect(seen.every((pk) => !['history-1', 'before-start'].includes(pk))).toBe(true);
    expect(poller.failures).toEqual([]);
  } finally {
    await poller.stop();
  }
});
