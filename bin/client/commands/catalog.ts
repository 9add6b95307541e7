/** `products` and `providers`: what can run where, at what price, with how much room and money. */
import type { Command } from 'commander';

import { relativeTime } from '../output.js';
import type { CommandContext } from '../register.js';

/** The gateway's largest page of products; the cursor is `provider/id`. */
const PRODUCT_PAGE = 500;
const PRODUCTS = `query ($provider: ID, $category: String, $backend: Backend, $after: String) {
  products(provider: $provider, category: $category, backend: $backend, first: ${PRODUCT_PAGE}, after: $after) {
    id provider category name cpu memoryInGigs gpu pricePerUnit unitOfPrice freeToUse capacity queueStatus balance
    support { backend maxReplicas sessionTypes }
  }
}`;
interface ProductRow {
  id: string;
  provider: string;
  category: string;
  name: string;
  cpu: number;
  memoryInGigs: number;
  gpu: number;
  pricePerUnit: number;
  unitOfPrice: string;
  freeToUse: boolean;
  capacity: number | null;
  queueStatus: string | null;
  balance: number | null;
  support: { backend: string; maxReplicas: number; sessionTypes: string[] };
}

const PROVIDERS = `{ providers { id kind status circuit version lastHeartbeat
  utilization { capacity { cpu memoryInGigs gpu } usedCapacity { cpu memoryInGigs gpu } queueStatus { running pending } } } }`;
interface ProviderRow {
  id: string;
  kind: string;
  status: string;
  circuit: string;
  version: string;
  lastHeartbeat: string | null;
  utilization: {
    capacity: { cpu: number; memoryInGigs: number; gpu: number };
    usedCapacity: { cpu: number; memoryInGigs: number; gpu: number };
    queueStatus: { running: number; pending: number };
  } | null;
}

const PRICE_UNIT: Record<string, string> = { CREDITS_PER_MINUTE: '/min', CREDITS_PER_HOUR: '/h', CREDITS_PER_DAY: '/day' };

export function priceText(p: Pick<ProductRow, 'freeToUse' | 'pricePerUnit' | 'unitOfPrice'>): string {
  return p.freeToUse ? 'free' : `${p.pricePerUnit}${PRICE_UNIT[p.unitOfPrice] ?? ` ${p.unitOfPrice}`}`;
}

export function usageText(used: number, capacity: number): string {
  return `${+used.toFixed(2)}/${+capacity.toFixed(2)}`;
}

export function registerCatalogCommands(program: Command, context: CommandContext): void {
  program
    .command('products')
    .description('products you can run on: resources, price (credits), room (capacity, queue) and your balance')
    .option('--provider <id>', "only this provider's")
    .option('--category <category>', 'only this category')
    .option('--backend <backend>', 'only DOCKER, NATIVE or VIRTUAL_MACHINE')
    .action(async (opts: { provider?: string; category?: string; backend?: string }, command: Command) => {
      const { out, api } = context(command);
      const products: ProductRow[] = [];
      for (let page: ProductRow[] = [], after: string | null = null; products.length === 0 || page.length === PRODUCT_PAGE;) {
        page = (await api().request<{ products: ProductRow[] }>(PRODUCTS, { ...opts, backend: opts.backend?.toUpperCase(), after })).products;
        products.push(...page);
        const last = page.at(-1);
        if (!last) break;
        after = `${last.provider}/${last.id}`;
      }
      if (out.json) return out.document(products);
      if (out.quiet) return products.forEach((p) => out.line(`${p.provider}/${p.id}`));
      out.table(
        ['PROVIDER', 'PRODUCT', 'CATEGORY', 'CPU', 'MEM GB', 'GPU', 'PRICE', 'CAPACITY', 'QUEUE', 'BALANCE', 'SESSIONS'],
        products.map((p) => [
          p.provider,
          p.id,
          p.category,
          p.cpu,
          p.memoryInGigs,
          p.gpu,
          priceText(p),
          p.capacity,
          p.queueStatus,
          p.freeToUse ? 'free' : p.balance,
          p.support.sessionTypes.join(',') || null,
        ]),
      );
    });

  program
    .command('providers')
    .description('providers, their health, circuit and utilization')
    .action(async (_opts: unknown, command: Command) => {
      const { out, api } = context(command);
      const { providers } = await api().request<{ providers: ProviderRow[] }>(PROVIDERS);
      if (out.json) return out.document(providers);
      if (out.quiet) return providers.forEach((p) => out.line(p.id));
      out.table(
        ['PROVIDER', 'KIND', 'STATUS', 'CIRCUIT', 'CPU USED', 'MEM GB USED', 'GPU USED', 'RUNNING', 'PENDING', 'HEARTBEAT'],
        providers.map((p) => {
          const u = p.utilization;
          return [
            p.id,
            p.kind,
            out.color[p.status === 'UP' ? 'green' : p.status === 'DOWN' ? 'red' : 'yellow'](p.status),
            p.circuit,
            u ? usageText(u.usedCapacity.cpu, u.capacity.cpu) : null,
            u ? usageText(u.usedCapacity.memoryInGigs, u.capacity.memoryInGigs) : null,
            u ? usageText(u.usedCapacity.gpu, u.capacity.gpu) : null,
            u?.queueStatus.running,
            u?.queueStatus.pending,
            relativeTime(p.lastHeartbeat),
          ];
        }),
      );
    });
}
