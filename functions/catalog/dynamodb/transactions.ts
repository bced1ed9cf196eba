/**
 * How the adapters of this folder read a refused write: a failed condition, a cancelled
 * transaction and its reasons, and the few retries of a transaction that lost only to another
 * one on the same items. Idempotency tokens for transactions that are retried.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, TransactionCanceledException, type CancellationReason } from '@aws-sdk/client-dynamodb';
import { errorName } from '../../shared/errors';
import { fullJitter, sleep } from '../../shared/retry';

/** Attempts of a transaction that lost only to another one on the same items (TransactionConflict). */
export const CONFLICT_ATTEMPTS = 5;

export function isConditionFailure(error: unknown): error is ConditionalCheckFailedException {
  return error instanceof ConditionalCheckFailedException || errorName(error) === 'ConditionalCheckFailedException';
}

/** The reasons of a cancelled transaction, one per item; undefined when the error is not a cancellation. */
export function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  if (error instanceof TransactionCanceledException || errorName(error) === 'TransactionCanceledException') {
    return (error as TransactionCanceledException).CancellationReasons ?? [];
  }
  return undefined;
}

/** Some item failed its condition. */
export function conditionFailed(reasons: readonly CancellationReason[] | undefined): boolean {
  return reasons?.some((r) => r.Code === 'ConditionalCheckFailed') ?? false;
}

/** Cancelled only because another transaction held the same items: worth trying again shortly. */
export function conflictOnly(reasons: readonly CancellationReason[] | undefined): boolean {
  return (reasons?.some((r) => r.Code === 'TransactionConflict') ?? false) && !conditionFailed(reasons);
}

/** The wait before attempt `attempt + 1` of a transaction that lost to a conflict (full jitter, doubling). */
export function conflictBackoff(attempt: number): Promise<void> {
  return sleep(fullJitter(attempt, 20));
}

/** DynamoDB's idempotency tokens are at most 36 characters. */
export function requestToken(seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 36);
}
