/** The local provider's products unless told otherwise: two sizes of this host's CPU, each with a terminal, web apps, time extension, suspension and up to 8 replicas. */
import { computeSupport, type Product } from '../sdk/index.js';

const LOCAL_SUPPORT = computeSupport({ backend: 'NATIVE', terminal: true, web: true, timeExtension: true, suspension: true, maxReplicas: 8 });

/** What the local provider sells unless told otherwise: two sizes of this host's CPU. */
export const LOCAL_PRODUCTS: readonly [small: Product, large: Product] = [
  {
    id: 'local-small',
    category: 'local-cpu',
    name: 'Local small',
    description: '1 CPU and 1 GiB of memory on the provider host',
    cpu: 1,
    memoryInGigs: 1,
    gpu: 0,
    pricePerUnit: 1,
    unitOfPrice: 'CREDITS_PER_MINUTE',
    freeToUse: false,
    priority: 0,
    support: LOCAL_SUPPORT,
  },
  {
    id: 'local-large',
    category: 'local-cpu',
    name: 'Local large',
    description: '2 CPUs and 4 GiB of memory on the provider host',
    cpu: 2,
    memoryInGigs: 4,
    gpu: 0,
    pricePerUnit: 3,
    unitOfPrice: 'CREDITS_PER_MINUTE',
    freeToUse: false,
    priority: 0,
    support: LOCAL_SUPPORT,
  },
];
