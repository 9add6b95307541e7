/** Prisma's where, orderBy, skip and take on the dialect's rows, as Shakudo's typegraphql-prisma resolvers apply them. */
import { describe, expect, it } from 'vitest';

import { findMany, matchesWhere, UnsupportedFilterError, type Row } from './shakudo-where.js';

const ROWS: Row[] = [
  { id: 'a', status: 'done', jobName: 'Nightly-ETL', startTime: '2026-01-02T00:00:00.000Z', timeout: 60, parameters: [{ key: 'X', value: '1' }] },
  { id: 'b', status: 'failed', jobName: 'train', startTime: '2026-01-01T00:00:00.000Z', timeout: 900, parameters: [] },
  { id: 'c', status: 'in progress', jobName: null, startTime: '2026-01-03T00:00:00.000Z', timeout: 60, parameters: [{ key: 'Y', value: '2' }] },
];

const ids = (rows: Row[]) => rows.map((row) => row.id);

describe('matchesWhere', () => {
  it('applies the scalar operators: equals, not (a value or a filter), in, notIn, the comparisons and the string ones', () => {
    const where = (w: unknown) => ids(ROWS.filter((row) => matchesWhere(row, w)));
    expect(where({ status: { equals: 'done' } })).toEqual(['a']);
    expect(where({ status: { not: 'done' } })).toEqual(['b', 'c']);
    expect(where({ status: { not: { in: ['done', 'failed'] } } })).toEqual(['c']);
    expect(where({ status: { in: ['done', 'failed'] } })).toEqual(['a', 'b']);
    expect(where({ status: { notIn: ['done'] } })).toEqual(['b', 'c']);
    expect(where({ timeout: { gt: 60 } })).toEqual(['b']);
    expect(where({ timeout: { lte: 60 } })).toEqual(['a', 'c']);
    expect(where({ jobName: { contains: 'ETL' } })).toEqual(['a']);
    expect(where({ jobName: { startsWith: 'nightly' } })).toEqual([]);
    expect(where({ jobName: { startsWith: 'nightly', mode: 'insensitive' } })).toEqual(['a']);
    expect(where({ jobName: { endsWith: 'n' } })).toEqual(['b']);
    expect(where({ jobName: null })).toEqual(['c']);
  });

  it('compares ISO dates as times, not as text', () => {
    const where = (w: unknown) => ids(ROWS.filter((row) => matchesWhere(row, w)));
    expect(where({ startTime: { gte: '2026-01-02T00:00:00Z' } })).toEqual(['a', 'c']);
    expect(where({ startTime: { lt: '2026-01-01T12:00:00.000+00:00' } })).toEqual(['b']);
  });

  it('treats an operator whose variable was not given as no condition, and combines with AND, OR and NOT (one or a list)', () => {
    const where = (w: unknown) => ids(ROWS.filter((row) => matchesWhere(row, w)));
    expect(where({ status: { equals: undefined }, timeout: undefined })).toEqual(['a', 'b', 'c']);
    expect(where({ AND: [{ timeout: { equals: 60 } }, { status: { equals: 'done' } }] })).toEqual(['a']);
    expect(where({ OR: [{ status: { equals: 'failed' } }, { status: { equals: 'in progress' } }] })).toEqual(['b', 'c']);
    expect(where({ NOT: { status: { equals: 'done' } } })).toEqual(['b', 'c']);
    expect(where({ NOT: [{ status: { equals: 'done' } }, { status: { equals: 'failed' } }] })).toEqual(['c']);
    expect(where(null)).toEqual(['a', 'b', 'c']);
  });

  it('filters list relations with some, every and none', () => {
    const where = (w: unknown) => ids(ROWS.filter((row) => matchesWhere(row, w)));
    expect(where({ parameters: { some: { key: { equals: 'X' } } } })).toEqual(['a']);
    expect(where({ parameters: { none: { key: { equals: 'X' } } } })).toEqual(['b', 'c']);
    // every holds for an empty list, as in Prisma.
    expect(where({ parameters: { every: { value: { equals: '2' } } } })).toEqual(['b', 'c']);
  });

  it('refuses an unknown field, an unknown operator and a where that is not an object', () => {
    expect(() => matchesWhere(ROWS[0]!, { nonsense: { equals: 1 } })).toThrow(UnsupportedFilterError);
    expect(() => matchesWhere(ROWS[0]!, { status: { search: 'done' } })).toThrow(/operator search/);
    expect(() => matchesWhere(ROWS[0]!, 'status')).toThrow(UnsupportedFilterError);
  });
});

describe('findMany', () => {
  it('orders by one or more fields (stable; nulls first ascending, last descending) and pages with skip and take', () => {
    expect(ids(findMany(ROWS, { orderBy: { startTime: 'desc' } }))).toEqual(['c', 'a', 'b']);
    expect(ids(findMany(ROWS, { orderBy: [{ timeout: 'asc' }, { startTime: 'desc' }] }))).toEqual(['c', 'a', 'b']);
    expect(ids(findMany(ROWS, { orderBy: { jobName: 'asc' } }))).toEqual(['c', 'a', 'b']);
    expect(ids(findMany(ROWS, { orderBy: { jobName: 'desc' } }))).toEqual(['b', 'a', 'c']);
    expect(ids(findMany(ROWS, { orderBy: { timeout: 'asc' } }))).toEqual(['a', 'c', 'b']);
    expect(ids(findMany(ROWS, { orderBy: { startTime: 'asc' }, skip: 1, take: 1 }))).toEqual(['a']);
    expect(ids(findMany(ROWS, { where: { timeout: { equals: 60 } }, take: 0 }))).toEqual([]);
    expect(ids(findMany(ROWS, { skip: 5 }))).toEqual([]);
  });

  it('refuses cursor, distinct, a negative or fractional skip or take, and a direction other than asc or desc', () => {
    for (const args of [{ cursor: { id: 'a' } }, { distinct: ['status'] }, { skip: -1 }, { skip: 1.5 }, { take: -2 }, { orderBy: { id: 'up' } }])
      expect(() => findMany(ROWS, args), JSON.stringify(args)).toThrow(UnsupportedFilterError);
  });
});
