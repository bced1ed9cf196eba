/**
 * What the adapters of the Connections table share (connection-store.ts, tenant-connections.ts,
 * user-slots.ts): how their conditional writes fail, and the one judgement of a silent connection.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { errorName } from '../shared/errors';

/**
 * API Gateway closes a connection that sent nothing for 10 minutes. A connection whose last
 * message is older than this (plus a margin) is closed, whether or not $disconnect said so.
 */
export const IDLE_CLOSED_AFTER_SECONDS = 10 * 60 + 2 * 60;

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Attempts of an optimistic write that found the item changed by another writer. */
export const ATTEMPTS = 4;

export function isConditionFailure(error: unknown): boolean {
  const name = errorName(error);
  return (
    error instanceof ConditionalCheckFailedException ||
    name === 'ConditionalCheckFailedException' ||
    name === 'TransactionCanceledException'
  );
}

/** Which items of a cancelled transaction failed their condition. */
export function failedConditions(error: unknown): boolean[] {
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.map((reason) => reason.Code === 'ConditionalCheckFailed');
}

/**
 * Lost only to a transaction on the same item: a cancelled transaction whose reasons are
 * conflicts and no failed condition, or a single write refused while a transaction held the item.
 */
export function isConflict(error: unknown): boolean {
  if (errorName(error) === 'TransactionConflictException') return true;
  if (errorName(error) !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((r) => r.Code === 'TransactionConflict') && !reasons.some((r) => r.Code === 'ConditionalCheckFailed');
}

/** What the silence of a connection is judged by: its META item's connectedAt and msgWindow. */
export interface HeardOf {
  readonly connectedAt?: number;
  /** The start of the minute of its last message (epoch ms). */
  readonly msgWindow?: number;
}

/**
 * Silent for longer than API Gateway's idle timeout, so certainly closed, whether or not
 * $disconnect said so. The one judgement of silence: the user's slots and the tenant's reclaim
 * both use it (the reclaim also as the condition of its write, silenceCondition()).
 */
export function silentPastIdleTimeout(record: HeardOf, nowMs = Date.now()): boolean {
  // msgWindow is the start of the minute of the last message: heard of until that minute's end.
  const lastHeard = Math.max(record.connectedAt ?? 0, (record.msgWindow ?? 0) + 60_000);
  return lastHeard < nowMs - IDLE_CLOSED_AFTER_SECONDS * 1000;
}

/** silentPastIdleTimeout() as a condition on the META item as it is when the write commits. */
export function silenceCondition(nowMs: number): { expression: string; values: Record<string, number> } {
  const since = nowMs - IDLE_CLOSED_AFTER_SECONDS * 1000;
  return {
    expression: 'connectedAt < :silentSince AND (attribute_not_exists(msgWindow) OR msgWindow < :silentWindow)',
    values: { ':silentSince': since, ':silentWindow': since - 60_000 },
  };
}
