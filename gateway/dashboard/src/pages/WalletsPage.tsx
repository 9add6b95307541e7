/** The caller's wallets with their allocations, and the grants and charges on them, newest first, a page at a time. */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';

import { ErrorMessage, Loading } from '../components';
import { credits, dateTime } from '../format';
import { graphql } from '../gql';
import { Pager, useCursorPages } from '../paging';
import { useApi } from '../session';

const WALLETS = graphql(`
  query Wallets {
    wallets {
      provider
      category
      balance
      owner {
        createdBy
        project
      }
      allocations {
        id
        initialBalance
        balance
        startDate
        endDate
      }
    }
  }
`);

const TRANSACTIONS = graphql(`
  query Transactions($first: Int, $after: String) {
    transactions(first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        node {
          id
          kind
          owner
          isProject
          provider
          category
          amount
          jobId
          by
          timestamp
          description
        }
      }
    }
  }
`);

const PAGE_SIZE = 25;

export function WalletsPage() {
  const api = useApi();
  const wallets = useQuery({ queryKey: ['wallets'], queryFn: () => api.request(WALLETS, {}) });
  const pages = useCursorPages();
  const after = pages.after;
  const transactions = useQuery({
    queryKey: ['transactions', after],
    queryFn: () => api.request(TRANSACTIONS, { first: PAGE_SIZE, after }),
    placeholderData: keepPreviousData,
  });

  return (
    <>
      <h1>Wallets</h1>
      {wallets.error ? <ErrorMessage error={wallets.error} title="Wallets not loaded" /> : null}
      {wallets.isPending ? <Loading what="wallets" /> : null}
      {wallets.data && wallets.data.wallets.length === 0 ? <p>No wallets yet: an administrator grants credits.</p> : null}
      <div className="cards">
        {wallets.data?.wallets.map((w) => (
          <section
            key={`${w.owner.project ?? w.owner.createdBy}/${w.provider}/${w.category}`}
            className="card"
            aria-label={`Wallet ${w.category} at ${w.provider}`}
          >
            <h2>
              {w.category} <span className="muted">at {w.provider}</span>
            </h2>
            <p className="balance">
              <strong>{credits(w.balance)}</strong> credits
            </p>
            <p className="muted">{w.owner.project ? `Project ${w.owner.project}` : `Personal (${w.owner.createdBy})`}</p>
            <ul className="plain">
              {w.allocations.map((a) => (
                <li key={a.id}>
                  {credits(a.balance)} of {credits(a.initialBalance)}, {dateTime(a.startDate)} to {a.endDate ? dateTime(a.endDate) : 'no end'}
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>

      <h2>Transactions</h2>
      {transactions.error ? <ErrorMessage error={transactions.error} title="Transactions not loaded" /> : null}
      {transactions.data ? (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Grants and charges, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">Wallet</th>
                <th scope="col" className="number">
                  Credits
                </th>
                <th scope="col">For</th>
              </tr>
            </thead>
            <tbody>
              {transactions.data.transactions.edges.map(({ node: t }) => (
                <tr key={t.id}>
                  <td>{dateTime(t.timestamp)}</td>
                  <td>{t.kind === 'GRANT' ? 'Grant' : 'Charge'}</td>
                  <td>
                    {t.category} at {t.provider} <span className="muted">({t.isProject ? `project ${t.owner}` : t.owner})</span>
                  </td>
                  <td className="number">{`${t.kind === 'GRANT' ? '+' : '−'}${credits(t.amount)}`}</td>
                  <td>
                    {t.jobId ? <Link to={`/jobs/${encodeURIComponent(t.jobId)}`}>{t.jobId}</Link> : t.description}
                    {t.by ? <span className="muted"> by {t.by}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager
        label="Pages of transactions"
        pages={pages}
        pageInfo={transactions.data?.transactions.pageInfo}
        total={transactions.data ? `${transactions.data.transactions.totalCount} in all` : undefined}
      />
    </>
  );
}
