import type { Plugin } from 'graphql-yoga';

/** The response formats Yoga writes: GraphQL over HTTP, JSON, server-sent events, incremental delivery. */
const FORMATS = ['application/graphql-response+json', 'application/json', 'text/event-stream', 'multipart/mixed'];

/** Whether an Accept header admits one of the formats (no header admits all). */
export function acceptsResponse(accept: string | null): boolean {
  if (!accept || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const [type = '', ...parameters] = range.trim().toLowerCase().split(';');
    // q=0 says "not this one".
    if (parameters.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p))) return false;
    if (type === '*/*') return true;
    if (type.endsWith('/*')) return FORMATS.some((format) => format.startsWith(type.slice(0, -1)));
    return FORMATS.includes(type);
  });
}

/**
 * Refuses a request whose Accept header admits no format we can answer in (406), before
 * anything executes: Yoga picks the format only after running the operation, so a mutation
 * would otherwise take effect and its caller get nothing back.
 */
export function useAcceptableResponse(): Plugin {
  return {
    onRequest({ request, endResponse, fetchAPI }) {
      if (acceptsResponse(request.headers.get('accept'))) return;
      endResponse(
        new fetchAPI.Response(
          JSON.stringify({
            errors: [
              {
                message: `Cannot answer in any format the Accept header allows; accept one of ${FORMATS.join(', ')}`,
                extensions: { code: 'INVALID_INPUT' },
              },
            ],
          }),
          { status: 406, headers: { 'content-type': 'application/json' } },
        ),
      );
    },
  };
}
