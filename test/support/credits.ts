/** Granting credits in tests: every category a provider sells, to one owner, through the API. */
import type { TestClient } from './graphql-client.js';

export async function fund(admin: TestClient, owner: string, providerId: string, amount = 1_000_000_000): Promise<void> {
  const data = await admin.ok(`query ($p: ID!) { products(provider: $p) { category } }`, { p: providerId });
  for (const category of new Set<string>(data.products.map((p: { category: string }) => p.category))) {
    await admin.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, { g: { owner, provider: providerId, category, amount } });
  }
}
