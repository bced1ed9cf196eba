/**
 * The order of a connection's own messages. API Gateway invokes the routes of one connection
 * concurrently, so of a subscribe and an unsubscribe sent back to back the later can commit
 * first. Each subscription row keeps the order of the message that set it, and a write applies
 * only when its message is later: the later message wins whatever order they commit in.
 *
 * The order is API Gateway's receive time (requestTimeEpoch, ms), then the client's optional
 * `seq` (it breaks ties within one millisecond: a client sending two frames at once), then the
 * message id (an arbitrary but fixed tie-break, so two handlers always agree). It is encoded as
 * one string that compares like that tuple, for DynamoDB's `<` in a condition.
 */
export type MessageOrder = string & { readonly __order: never };

/** What API Gateway says about a message: when it received it, and its id. */
export interface ReceivedMessage {
  /** requestTimeEpoch (ms). */
  readonly at: number;
  readonly messageId: string;
}

const TIME_DIGITS = 15;
const SEQ_DIGITS = 16;

/** A client `seq`: a non-negative safe integer. */
export function isSequenceNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function messageOrder(received: ReceivedMessage, seq: number | undefined): MessageOrder {
  const at = Number.isSafeInteger(received.at) && received.at >= 0 ? received.at : 0;
  return [
    String(at).padStart(TIME_DIGITS, '0'),
    String(seq ?? 0).padStart(SEQ_DIGITS, '0'),
    // The gateway's id, never the client's; bounded all the same.
    received.messageId.slice(0, 64),
  ].join(':') as MessageOrder;
}
