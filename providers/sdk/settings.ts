/** Settings every provider process reads. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

import { natsReplicasSetting, natsUrlSetting, positiveIntSetting, prefixSetting, readConfig } from '../../shared/config.js';

export const providerSettings = {
  NATS_URL: natsUrlSetting,
  SWITCHYARD_NATS_REPLICAS: natsReplicasSetting,
  SWITCHYARD_PREFIX: prefixSetting,
  SWITCHYARD_HEARTBEAT_MS: positiveIntSetting.default(2_000),
  /** Where events wait on disk until JetStream stored them; default `$TMPDIR/switchyard-outbox-<prefix>-<id>`. */
  SWITCHYARD_OUTBOX_DIR: z.string().min(1).optional(),
};

export function readProviderSettings<T extends z.ZodRawShape>(extra: T, env: NodeJS.ProcessEnv = process.env) {
  return readConfig({ ...providerSettings, ...extra }, env);
}

/**
 * A setting that holds a list: a JSON array of `item`s, `@<file>` holding one (with `files`), or
 * what `plain` makes of other text (a comma list, say). Every problem is named by its path.
 */
export function jsonListSetting<T extends z.ZodType>(item: T, options: { files?: boolean; plain?: (text: string) => unknown } = {}) {
  return z
    .string()
    .min(1)
    .transform((text, ctx): z.infer<T>[] => {
      const trimmed = text.trim();
      let value: unknown;
      try {
        if (options.files && trimmed.startsWith('@')) value = JSON.parse(readFileSync(trimmed.slice(1), 'utf8'));
        else if (trimmed.startsWith('[') || !options.plain) value = JSON.parse(trimmed);
        else value = options.plain(trimmed);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a JSON array${options.files ? ' (or @file holding one)' : ''}: ${(error as Error).message}` });
        return z.NEVER;
      }
      const parsed = z.array(item).min(1).safeParse(value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || '(list)'}: ${issue.message}` });
        return z.NEVER;
      }
      return parsed.data;
    });
}
