/**
 * Prisma's `where`, `orderBy`, `skip` and `take` (what typegraphql-prisma
 * resolvers take) applied to the dialect's rows: sessions and pipeline jobs as
 * Shakudo shows them, made from Switchyard jobs, schedules and services. The
 * rows are the viewer's (the core's access rules chose them); this only
 * narrows and orders them.
 */
export type Row = Record<string, unknown>;

/** A where or orderBy the dialect cannot apply: answered as a GraphQL error, nothing changes. */
export class UnsupportedFilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedFilterError';
  }
}

type Filter = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Dates compare as their time; strings insensitively under `mode: insensitive`. */
function comparable(value: unknown, insensitive: boolean): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') {
    if (/^\d{4}-\d\d-\d\dT/.test(value)) {
      const time = Date.parse(value);
      if (!Number.isNaN(time)) return time;
    }
    return insensitive ? value.toLowerCase() : value;
  }
  return value;
}

function matchesScalar(value: unknown, filter: Filter, insensitive: boolean): boolean {
  const mine = comparable(value ?? null, insensitive);
  const their = (v: unknown) => comparable(v, insensitive);
  for (const [op, given] of Object.entries(filter)) {
    // An operator whose variable was not given is no condition (Prisma's undefined).
    if (given === undefined || op === 'mode') continue;
    switch (op) {
      case 'equals':
        if (mine !== their(given)) return false;
        break;
      case 'not':
        if (isObject(given) ? matchesScalar(value, given, insensitive) : mine === their(given)) return false;
        break;
      case 'in':
        if (given !== null && !(given as unknown[]).some((v) => their(v) === mine)) return false;
        break;
      case 'notIn':
        if (given !== null && (given as unknown[]).some((v) => their(v) === mine)) return false;
        break;
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte': {
        if (mine === null || given === null) return false;
        const [a, b] = [mine as number | string, their(given) as number | string];
        if (op === 'lt' ? !(a < b) : op === 'lte' ? !(a <= b) : op === 'gt' ? !(a > b) : !(a >= b)) return false;
        break;
      }
      case 'contains':
      case 'startsWith':
      case 'endsWith': {
        if (typeof mine !== 'string' || given === null) return false;
        const part = their(given) as string;
        if (op === 'contains' ? !mine.includes(part) : op === 'startsWith' ? !mine.startsWith(part) : !mine.endsWith(part)) return false;
        break;
      }
      default:
        throw new UnsupportedFilterError(`The filter operator ${op} is not supported`);
    }
  }
  return true;
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]);

/** Whether the row passes a Prisma where (AND, OR, NOT, scalar filters, list relations with some/every/none). */
export function matchesWhere(row: Row, where: unknown): boolean {
  if (where === undefined || where === null) return true;
  if (!isObject(where)) throw new UnsupportedFilterError('where is an object');
  for (const [field, condition] of Object.entries(where)) {
    if (condition === undefined) continue;
    if (field === 'AND') {
      if (!asList(condition).every((part) => matchesWhere(row, part))) return false;
    } else if (field === 'OR') {
      if (!asList(condition).some((part) => matchesWhere(row, part))) return false;
    } else if (field === 'NOT') {
      if (asList(condition).some((part) => matchesWhere(row, part))) return false;
    } else if (Array.isArray(row[field])) {
      const items = row[field] as Row[];
      const relation = (condition ?? {}) as Filter;
      if (relation.some !== undefined && !items.some((item) => matchesWhere(item, relation.some))) return false;
      if (relation.every !== undefined && !items.every((item) => matchesWhere(item, relation.every))) return false;
      if (relation.none !== undefined && items.some((item) => matchesWhere(item, relation.none))) return false;
    } else if (!(field in row)) {
      throw new UnsupportedFilterError(`The field ${field} cannot be filtered on`);
    } else if (condition === null) {
      if (row[field] !== null) return false;
    } else {
      const filter = condition as Filter;
      if (!matchesScalar(row[field], filter, filter.mode === 'insensitive')) return false;
    }
  }
  return true;
}

export interface ListArguments {
  where?: unknown;
  orderBy?: unknown;
  skip?: number | null;
  take?: number | null;
  cursor?: unknown;
  distinct?: unknown;
}

/** The orderBy as one field and direction, 'none' when it orders nothing, null when it names several. */
export function singleOrder(orderBy: unknown): readonly [field: string, direction: unknown] | 'none' | null {
  const orders = asList(orderBy).flatMap((order) => Object.entries(order as Record<string, unknown>).filter(([, d]) => d != null));
  return orders.length === 0 ? 'none' : orders.length === 1 ? orders[0]! : null;
}

/** The rows a findMany answers: filtered, ordered (stable; nulls first ascending, as Postgres sorts them last descending), paged. */
export function findMany<T extends Row>(rows: T[], args: ListArguments): T[] {
  if (args.cursor !== undefined && args.cursor !== null) throw new UnsupportedFilterError('cursor is not supported: page with skip and take');
  if (args.distinct !== undefined && args.distinct !== null) throw new UnsupportedFilterError('distinct is not supported');
  const skip = args.skip ?? 0;
  if (!Number.isInteger(skip) || skip < 0) throw new UnsupportedFilterError('skip is a whole number, 0 or more');
  if (args.take !== undefined && args.take !== null && (!Number.isInteger(args.take) || args.take < 0))
    throw new UnsupportedFilterError('take is a whole number, 0 or more (a negative take is not supported)');
  const kept = rows.filter((row) => matchesWhere(row, args.where));
  const orders = asList(args.orderBy).flatMap((order) => Object.entries(order as Record<string, unknown>).filter(([, d]) => d != null));
  for (const [field, direction] of orders) {
    if (direction !== 'asc' && direction !== 'desc') throw new UnsupportedFilterError(`orderBy ${field} is asc or desc`);
  }
  if (orders.length) {
    kept.sort((a, b) => {
      for (const [field, direction] of orders) {
        const [x, y] = [comparable(a[field] ?? null, false), comparable(b[field] ?? null, false)];
        if (x === y) continue;
        const less = x === null ? true : y === null ? false : (x as number) < (y as number);
        return (less ? -1 : 1) * (direction === 'asc' ? 1 : -1);
      }
      return 0;
    });
  }
  return kept.slice(skip, args.take === undefined || args.take === null ? undefined : skip + args.take);
}
