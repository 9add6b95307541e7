/** Pages of a connection (jobs, transactions), newest first: forward by its end cursor, back by the cursors already passed. */
import { useState } from 'react';

import { graphql } from './gql';

graphql(`
  fragment PageFields on PageInfo {
    hasNextPage
    endCursor
  }
`);

export interface CursorPages {
  /** The cursor the current page starts after (null: the first page). */
  after: string | null;
  next(endCursor: string | null | undefined): void;
  previous(): void;
  /** Back to the first page (a new filter). */
  reset(): void;
  hasPrevious: boolean;
}

export function useCursorPages(): CursorPages {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    after: cursors.at(-1) ?? null,
    next: (endCursor) => setCursors((now) => [...now, endCursor ?? null]),
    previous: () => setCursors((now) => (now.length > 1 ? now.slice(0, -1) : now)),
    reset: () => setCursors([null]),
    hasPrevious: cursors.length > 1,
  };
}

export function Pager({
  label,
  pages,
  pageInfo,
  total,
}: {
  label: string;
  pages: CursorPages;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null } | undefined;
  total?: string;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" disabled={!pages.hasPrevious} onClick={pages.previous}>
        Previous
      </button>
      {total ? <span className="muted">{total}</span> : null}
      <button type="button" disabled={!pageInfo?.hasNextPage} onClick={() => pages.next(pageInfo?.endCursor)}>
        Next
      </button>
    </nav>
  );
}
