/**
 * Informers that keep going. The client's informer (list, then watch from the
 * list's resourceVersion, listing again on "410 Gone") stops for good when its
 * list or watch fails — the API server went away, say — so each one here
 * starts again after a pause, and says whether its cache is current: an
 * informer whose last start failed holds what the cluster said before.
 */
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type ObjectCallback,
} from '@kubernetes/client-node';

export interface KeptInformer<T extends KubernetesObject> extends ObjectCache<T> {
  /** Whether the last list and watch succeeded (false until the first does). */
  readonly current: boolean;
  on(verb: 'add' | 'update' | 'delete', callback: ObjectCallback<T>): void;
  /** Lists and watches; a failure is reported to `onError` and retried, never thrown. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface KeptInformerOptions<T extends KubernetesObject> {
  config: KubeConfig;
  /** The collection's path, as `/api/v1/namespaces/x/pods`. */
  path: string;
  /** Lists the collection with the same selectors. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Pause before a failed informer starts again. */
  rewatchMs: number;
  onError: (error: unknown) => void;
}

export function keptInformer<T extends KubernetesObject>(options: KeptInformerOptions<T>): KeptInformer<T> {
  const informer = new ListWatch<T>(options.path, new Watch(options.config), options.list, false, options.labelSelector, options.fieldSelector);
  let failures = 0;
  let current = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;

  // A start that saw no error is current; the client resolves start() even when its list failed.
  const begin = async () => {
    const before = failures;
    await informer.start();
    if (failures === before && !stopped) current = true;
  };
  informer.on('error', (error: unknown) => {
    failures += 1;
    current = false;
    if (stopped) return;
    options.onError(error);
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      if (!stopped) begin().catch(options.onError);
    }, options.rewatchMs);
  });

  return {
    get current() {
      return current;
    },
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    on: (verb, callback) => informer.on(verb, callback),
    start: () => {
      stopped = false;
      return begin();
    },
    stop: async () => {
      stopped = true;
      current = false;
      if (timer) clearTimeout(timer);
      timer = null;
      await informer.stop();
    },
  };
}
