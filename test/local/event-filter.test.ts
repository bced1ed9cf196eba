/**
 * Lambda's event filtering for stream event source mappings: patterns compiled once, matched
 * against a record as the function would receive it; unsupported syntax refused up front.
 */
import { compileFilters, FilterPatternError } from '../../local/event-filter';

const record = (sk: string, extra: Record<string, unknown> = {}) => ({
  eventName: 'MODIFY',
  dynamodb: { Keys: { pk: { S: 'T#acme' }, sk: { S: sk } }, NewImage: { stock: { N: '3' }, sk: { S: sk } }, ...extra },
});

describe('compileFilters', () => {
  it('delivers everything without filters', () => {
    expect(compileFilters([])(record('P#a'))).toBe(true);
  });

  it('matches a key prefix in DynamoDB JSON, as the invalidation consumer filters products', () => {
    const products = compileFilters([{ dynamodb: { Keys: { sk: { S: [{ prefix: 'P#' }] } } } }]);
    expect(products(record('P#espresso'))).toBe(true);
    expect(products(record('S#espresso'))).toBe(false);
    expect(products({ eventName: 'INSERT' })).toBe(false);
  });

  it('delivers a record when any filter matches (filters are ORed, fields ANDed)', () => {
    const matches = compileFilters([
      { eventName: ['INSERT'], dynamodb: { Keys: { sk: { S: [{ prefix: 'O#' }] } } } },
      { dynamodb: { Keys: { sk: { S: [{ prefix: 'P#' }] } } } },
    ]);
    expect(matches(record('P#a'))).toBe(true);
    expect(matches(record('O#a'))).toBe(false);
    expect(matches({ ...record('O#a'), eventName: 'INSERT' })).toBe(true);
  });

  it('supports numeric ranges on DynamoDB numbers, anything-but, exists, suffix, wildcard and $or', () => {
    expect(compileFilters([{ dynamodb: { NewImage: { stock: { N: [{ numeric: ['<=', 5] }] } } } }])(record('S#a'))).toBe(true);
    expect(compileFilters([{ dynamodb: { NewImage: { stock: { N: [{ numeric: ['>', 5] }] } } } }])(record('S#a'))).toBe(false);
    expect(compileFilters([{ eventName: [{ 'anything-but': ['REMOVE'] }] }])(record('P#a'))).toBe(true);
    expect(compileFilters([{ eventName: [{ 'anything-but': 'MODIFY' }] }])(record('P#a'))).toBe(false);
    expect(compileFilters([{ dynamodb: { OldImage: [{ exists: false }] } }])(record('P#a'))).toBe(true);
    expect(compileFilters([{ dynamodb: { OldImage: [{ exists: true }] } }])(record('P#a'))).toBe(false);
    expect(compileFilters([{ dynamodb: { Keys: { sk: { S: [{ suffix: '-beans' }] } } } }])(record('P#espresso-beans'))).toBe(true);
    expect(compileFilters([{ dynamodb: { Keys: { sk: { S: [{ wildcard: 'P#*-beans' }] } } } }])(record('P#x-beans'))).toBe(true);
    expect(compileFilters([{ $or: [{ eventName: ['INSERT'] }, { eventName: ['MODIFY'] }] }])(record('P#a'))).toBe(true);
  });

  it('refuses what it does not support instead of matching it', () => {
    expect(() => compileFilters([{ eventName: 'INSERT' }])).toThrow(FilterPatternError);
    expect(() => compileFilters([{ eventName: [{ cidr: '10.0.0.0/8' }] }])).toThrow(/cidr is not supported/);
    expect(() => compileFilters(['not an object'])).toThrow(FilterPatternError);
  });
});
