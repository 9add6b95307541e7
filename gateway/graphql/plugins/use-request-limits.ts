import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import type { GraphQLArmorConfig } from '@escape.tech/graphql-armor-types';
import { GraphQLError, Kind, validate, visit, type DocumentNode, type GraphQLSchema, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

import type { GatewayMetrics, RefusalReason } from '../../metrics.js';

/**
 * The limits one GraphQL request must stay within. The defaults admit every
 * query of the README, the test suite and the bench, the standard
 * introspection query and a dashboard's page of 100 jobs with every field; a
 * hostile query (thousands of aliases, deep nesting, a huge document) is
 * refused before it executes.
 */
export interface RequestLimits {
  /**
   * Aliased fields in one operation (aliases of `__typename` are free). A
   * dashboard that counts jobs per state and time frame needs 32.
   * @default 50
   */
  maxAliases: number;
  /**
   * Field nesting in one operation; fragments add none. The deepest data path
   * (a page of jobs down to a job's product's time limit) is 8. Under
   * `__schema` nothing is counted: graphql-js itself refuses introspection
   * nested more than three levels of fields, and the standard introspection
   * query would need 15.
   * @default 10
   */
  maxDepth: number;
  /**
   * Lexical tokens in the query document (variables are not tokens: they are
   * bounded by the body size). The README's inline createJobs has 47, a
   * dashboard query about 630.
   * @default 2000
   */
  maxTokens: number;
  /** Directives in one operation (no query of ours uses one; a dashboard might `@include` a few sections). @default 50 */
  maxDirectives: number;
  /**
   * graphql-armor's cost: 2 per object field, 1 per scalar, each level 1.5
   * times the one above, times `first`/`last` (a literal at validation, a
   * variable's value before the operation runs). A dashboard (100
   * jobs with every field, products, providers, wallets, 32 job counts)
   * costs about 63,000, the largest page of jobs with every field
   * (`first: 500`) 271,000, the standard introspection query 15,600: one
   * such page fits, two do not.
   * @default 300000
   */
  maxCost: number;
  /**
   * Bytes in one request body, counted as it streams (chunked bodies too) and
   * checked against Content-Length before it does. Yoga enforces it
   * (`maxRequestBodySize`); this plugin counts and words the refusal. A
   * createJobs of 1,000 specifications (the most one call takes) is 135 KB
   * as the bench sends them, 240 KB with a command line, env and tags each.
   * @default 1048576
   */
  maxBodyBytes: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = {
  maxAliases: 50,
  maxDepth: 10,
  maxTokens: 2000,
  maxDirectives: 50,
  maxCost: 300_000,
  maxBodyBytes: 1_048_576,
};

/** The defaults, with the limits `overrides` sets (an undefined one keeps its default). */
export function requestLimits(overrides: Partial<RequestLimits> = {}): RequestLimits {
  const given = Object.entries(overrides).filter(([, value]) => value !== undefined);
  return { ...DEFAULT_REQUEST_LIMITS, ...Object.fromEntries(given) };
}

export interface RequestLimitsOptions extends Partial<RequestLimits> {
  /** Where refusals are counted (`requestsRefused`, by reason). */
  metrics?: GatewayMetrics;
}

type QueryLimit = Extract<RefusalReason, 'aliases' | 'depth' | 'tokens' | 'directives' | 'cost'>;
const QUERY_LIMITS: readonly string[] = ['aliases', 'depth', 'tokens', 'directives', 'cost'] satisfies QueryLimit[];

/**
 * A refusal with the contract's INVALID_INPUT code, HTTP 400, and which limit
 * it was (`extensions.limit`): the marker the counting below recognises,
 * which survives Yoga's validation cache and useErrorCodes' copies.
 */
function limitError(limit: QueryLimit | 'body_size', message: string): GraphQLError {
  return new GraphQLError(message.replace(/^Syntax Error: /, ''), {
    // After a 413, close rather than read the rest of a body already refused.
    extensions: { code: 'INVALID_INPUT', limit, http: limit === 'body_size' ? { status: 413, headers: { connection: 'close' } } : { status: 400 } },
  });
}

/** The arguments whose value multiplies a field's cost: a page's size. */
const PAGE_SIZE_ARGUMENTS = new Set(['first', 'last']);

/** Whether a page size in the document is a variable: its cost is known only once the variables are. */
function hasVariablePageSize(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Argument(node) {
      if (PAGE_SIZE_ARGUMENTS.has(node.name.value) && node.value.kind === Kind.VARIABLE) found = true;
    },
  });
  return found;
}

/** The document with each variable page size replaced by the request's value, as if it had been written there. */
function withPageSizes(document: DocumentNode, variables: Record<string, unknown>): DocumentNode {
  return visit(document, {
    Argument(node) {
      if (!PAGE_SIZE_ARGUMENTS.has(node.name.value) || node.value.kind !== Kind.VARIABLE) return undefined;
      const value = variables[node.value.name.value];
      // A value that is not a whole number fails its own coercion when the operation runs.
      if (typeof value !== 'number' || !Number.isInteger(value)) return undefined;
      return { ...node, value: { kind: Kind.INT, value: String(value) } };
    },
  });
}

const limitOf = (error: unknown): string | undefined =>
  error instanceof GraphQLError && typeof error.extensions?.limit === 'string' ? error.extensions.limit : undefined;

/**
 * Refuses GraphQL requests over the gateway's limits before they execute,
 * with INVALID_INPUT and a message naming the limit, and counts every refusal
 * in `switchyard_requests_refused_total{reason}`: aliases, depth, tokens,
 * directives and cost through graphql-armor (its EnvelopArmorPlugin), the body
 * size as Yoga refuses it. Field suggestions ("Did you mean ...") are hidden,
 * so the schema cannot be read out through typos. The websocket path runs the
 * same parse and validate, so subscriptions are held to the same limits.
 *
 * Put it before useErrorCodes; Yoga's error cache must be off for parse
 * errors (createGatewayYoga does both), or a repeated over-long document
 * would not be counted.
 */
export function useRequestLimits(options: RequestLimitsOptions = {}): Plugin {
  const { metrics, ...overrides } = options;
  const limits = requestLimits(overrides);
  const refused = (reason: RefusalReason) => metrics?.requestsRefused.inc({ reason });
  // Validation rules report through the context, so all of a query's problems come back together.
  const report = (limit: QueryLimit) => ({
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(limitError(limit, error.message))],
  });
  // The token count runs inside the parser: it must throw to stop it; the error is replaced after parsing.
  const tokenErrors = new WeakSet<GraphQLError>();
  const costOptions = { maxCost: limits.maxCost, ignoreIntrospection: false, flattenFragments: true };
  // Which documents have a variable page size, remembered as Yoga's parse cache hands the same document back.
  const variablePages = new WeakMap<DocumentNode, boolean>();
  /** The cost refusal for a document whose page sizes are variables, once their values are known; null when it fits. */
  const costWithVariables = (schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined): GraphQLError | null => {
    let variable = variablePages.get(document);
    if (variable === undefined) variablePages.set(document, (variable = hasVariablePageSize(document)));
    if (!variable) return null;
    const refusals: GraphQLError[] = [];
    const rule = costLimitRule({
      ...costOptions,
      exposeLimits: true,
      propagateOnRejection: false,
      onReject: [(_context, error) => void refusals.push(error)],
    });
    validate(schema, withPageSizes(document, variables ?? {}), [rule]);
    return refusals[0] ? limitError('cost', refusals[0].message) : null;
  };
  const armor: GraphQLArmorConfig = {
    blockFieldSuggestion: { enabled: true },
    maxTokens: {
      n: limits.maxTokens,
      exposeLimits: true,
      onReject: [(_context, error) => void tokenErrors.add(error)],
    },
    maxAliases: { n: limits.maxAliases, ...report('aliases') },
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...report('depth') },
    maxDirectives: { n: limits.maxDirectives, ...report('directives') },
    // Introspection counts here (the standard query costs about 15,600), so copies of it under aliases add up.
    // A literal page size counts here; a variable one once its value is known (onExecute: no subscription's selection has a page).
    costLimit: { ...costOptions, ...report('cost') },
  };
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(EnvelopArmorPlugin(armor));
    },
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (!(result instanceof GraphQLError) || !tokenErrors.has(result)) return;
        refused('tokens');
        replaceParseResult(limitError('tokens', `${result.message} The limit is ${limits.maxTokens} tokens per document.`));
      };
    },
    onExecute({ args, setResultAndStopExecution }) {
      const refusal = costWithVariables(args.schema, args.document, args.variableValues ?? undefined);
      if (!refusal) return;
      refused('cost');
      setResultAndStopExecution({ errors: [refusal] });
    },
    onValidate() {
      // Runs on Yoga's cached validation results too, so a repeated refusal is counted each time.
      return ({ result }) => {
        const reasons = new Set(result.map(limitOf).filter((limit): limit is QueryLimit => limit !== undefined && QUERY_LIMITS.includes(limit)));
        for (const reason of reasons) refused(reason);
      };
    },
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !('errors' in result) || !result.errors?.length) return;
      const errors = result.errors as GraphQLError[];
      // Yoga's own refusal of a body over maxRequestBodySize, before any parsing: count it and say the limit.
      if (errors.some((error) => (error.extensions?.http as { status?: number } | undefined)?.status === 413)) {
        refused('body_size');
        setResult({ errors: [limitError('body_size', `The request body is larger than the limit of ${limits.maxBodyBytes} bytes.`)] });
        return;
      }
      // Yoga marks parse and validation errors `spec` (200 to application/json); a refusal over a limit is a 400 to every client.
      if (errors.some((error) => limitOf(error) !== undefined)) {
        setResult({
          ...result,
          errors: errors.map((error) => (limitOf(error) === undefined ? error : limitError(limitOf(error) as QueryLimit, error.message))),
        });
      }
    },
  };
}
