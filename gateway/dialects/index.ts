/** The dialects the gateway can serve, by the name SWITCHYARD_DIALECTS gives them. */
import { apoloDialect } from './apolo/apolo-dialect.js';
import { backendaiDialect } from './backendai/backendai-dialect.js';
import type { Dialect, DialectCore, DialectModule } from './dialect.js';
import { openpaiDialect } from './openpai/openpai-dialect.js';
import { shakudoDialect } from './shakudo/shakudo-dialect.js';
import { ucloudDialect } from './ucloud/ucloud-dialect.js';

export const DIALECTS = {
  openpai: openpaiDialect,
  apolo: apoloDialect,
  backendai: backendaiDialect,
  shakudo: shakudoDialect,
  ucloud: ucloudDialect,
} as const satisfies Record<string, DialectModule>;

export type DialectName = keyof typeof DIALECTS;

export const DIALECT_NAMES = Object.keys(DIALECTS) as [DialectName, ...DialectName[]];

/** The named dialects, mounted on the core. */
export function createDialects(names: readonly DialectName[], core: DialectCore): Dialect[] {
  return [...new Set(names)].map((name) => DIALECTS[name].create(core));
}
