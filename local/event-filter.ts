/**
 * Lambda event filtering (an event source mapping's FilterCriteria), as Lambda applies it to
 * stream records: each filter is an EventBridge-style pattern matched against the record's JSON
 * (eventName, dynamodb.Keys / NewImage / OldImage in DynamoDB JSON, ...); a record is delivered
 * when any filter matches, and dropped otherwise.
 *
 * Supported: value lists (strings, numbers, booleans, null), prefix, suffix, equals-ignore-case,
 * wildcard, anything-but (values or a prefix), exists, numeric ranges, and $or. Anything else is
 * refused when the filter is compiled, never treated as a match.
 */

export type EventMatcher = (event: unknown) => boolean;

export class FilterPatternError extends Error {
  constructor(message: string) {
    super(`FilterCriteria: ${message}`);
    this.name = 'FilterPatternError';
  }
}

/** One matcher for a list of patterns (any may match); no patterns: everything matches. */
export function compileFilters(patterns: readonly unknown[]): EventMatcher {
  if (patterns.length === 0) return () => true;
  const matchers = patterns.map((p, i) => compilePattern(p, `Filters[${i}]`));
  return (event) => matchers.some((m) => m(event));
}

function compilePattern(pattern: unknown, at: string): EventMatcher {
  if (!isObject(pattern)) throw new FilterPatternError(`${at}: a pattern is a JSON object`);
  const fields: EventMatcher[] = [];
  for (const [key, value] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) throw new FilterPatternError(`${at}.$or: a list of at least two patterns`);
      const alternatives = value.map((v, i) => compilePattern(v, `${at}.$or[${i}]`));
      fields.push((event) => alternatives.some((m) => m(event)));
      continue;
    }
    const path = `${at}.${key}`;
    if (isObject(value)) {
      const nested = compilePattern(value, path);
      fields.push((event) => isObject(event) && nested(event[key]));
    } else if (Array.isArray(value)) {
      const accept = compileValueList(value, path);
      fields.push((event) => isObject(event) && accept(event[key], key in event));
    } else {
      throw new FilterPatternError(`${path}: match values are given in a list`);
    }
  }
  return (event) => fields.every((m) => m(event));
}

type ValueMatcher = (value: unknown, present: boolean) => boolean;

function compileValueList(list: readonly unknown[], at: string): ValueMatcher {
  if (list.length === 0) throw new FilterPatternError(`${at}: an empty list matches nothing`);
  const matchers = list.map((item, i) => compileValue(item, `${at}[${i}]`));
  // A field holding a list matches when any of its elements does (EventBridge's array rule).
  return (value, present) =>
    matchers.some((m) =>
      Array.isArray(value) ? value.some((v) => m(v, true)) || (value.length === 0 && m(undefined, present)) : m(value, present),
    );
}

function compileValue(item: unknown, at: string): ValueMatcher {
  if (item === null || typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
    return (value, present) => present && value === item;
  }
  if (!isObject(item)) throw new FilterPatternError(`${at}: not a match value`);
  const entries = Object.entries(item);
  const [operator, operand] = entries[0] ?? [];
  if (entries.length !== 1 || operator === undefined) throw new FilterPatternError(`${at}: one operator per object`);
  switch (operator) {
    case 'prefix':
      return stringOperator(at, operator, operand, (v, s) => v.startsWith(s));
    case 'suffix':
      return stringOperator(at, operator, operand, (v, s) => v.endsWith(s));
    case 'equals-ignore-case':
      return stringOperator(at, operator, operand, (v, s) => v.toLowerCase() === s.toLowerCase());
    case 'wildcard': {
      if (typeof operand !== 'string') throw new FilterPatternError(`${at}.wildcard: a string`);
      const regex = new RegExp(`^${operand.split('*').map(escapeRegExp).join('.*')}$`, 's');
      return (value, present) => present && typeof value === 'string' && regex.test(value);
    }
    case 'exists':
      if (typeof operand !== 'boolean') throw new FilterPatternError(`${at}.exists: true or false`);
      return (value, present) => (present && value !== undefined) === operand;
    case 'anything-but': {
      if (isObject(operand)) {
        const inner = compileValue(operand, `${at}.anything-but`);
        return (value, present) => present && typeof value === 'string' && !inner(value, present);
      }
      const excluded = Array.isArray(operand) ? operand : [operand];
      if (!excluded.every((v) => typeof v === 'string' || typeof v === 'number'))
        throw new FilterPatternError(`${at}.anything-but: strings or numbers`);
      return (value, present) => present && (typeof value === 'string' || typeof value === 'number') && !excluded.includes(value);
    }
    case 'numeric':
      return numericOperator(at, operand);
    default:
      throw new FilterPatternError(`${at}: operator ${operator} is not supported`);
  }
}

function stringOperator(at: string, operator: string, operand: unknown, test: (value: string, operand: string) => boolean): ValueMatcher {
  if (typeof operand !== 'string') throw new FilterPatternError(`${at}.${operator}: a string`);
  return (value, present) => present && typeof value === 'string' && test(value, operand);
}

const COMPARISONS: Record<string, (a: number, b: number) => boolean> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function numericOperator(at: string, operand: unknown): ValueMatcher {
  if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0)
    throw new FilterPatternError(`${at}.numeric: [op, n, ...]`);
  const checks: ((n: number) => boolean)[] = [];
  const pairs: readonly unknown[] = operand;
  for (let i = 0; i < pairs.length; i += 2) {
    const op = pairs[i];
    const bound = pairs[i + 1];
    const compare = typeof op === 'string' ? COMPARISONS[op] : undefined;
    if (compare === undefined || typeof bound !== 'number')
      throw new FilterPatternError(`${at}.numeric: bad comparison ${JSON.stringify([op, bound])}`);
    checks.push((n) => compare(n, bound));
  }
  return (value, present) => {
    // DynamoDB numbers arrive as strings ({"N": "12"}), which Lambda's filter compares numerically.
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    return present && Number.isFinite(n) && checks.every((c) => c(n));
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
