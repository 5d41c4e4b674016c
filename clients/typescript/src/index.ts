// A typed client for Vigie's GraphQL API. The operations in `src/operations/` are
// compiled against `schema.graphql` by graphql-codegen, so a schema change that breaks
// them breaks this package's build.
import type { TypedDocumentString } from './generated/graphql.js';

export * from './generated/graphql.js';

/** Every `extensions.code` Vigie sends (docs/graphql.md). */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'QUERY_TOO_COMPLEX'
  | 'RATE_LIMITED'
  | 'TOO_MANY_OPERATIONS'
  | 'PERSISTED_QUERY_NOT_FOUND'
  | 'UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: ErrorCode; field?: string; retryAfter?: number };
}

/** The first error of a response, with its code. */
export class VigieError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode | undefined,
    readonly field?: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** `https://vigie.example/graphql`. */
  url: string;
  /** Sends `Authorization: Bearer <accessToken>` when set. */
  accessToken?: () => string | undefined;
  /** Sends queries as automatic persisted queries (their hash first, by GET). */
  persisted?: boolean;
  fetch?: typeof fetch;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

export class VigieClient {
  constructor(private readonly options: ClientOptions) {}

  /** Runs one operation and returns its data, or throws a [[VigieError]]. */
  async request<Result, Variables>(
    document: TypedDocumentString<Result, Variables>,
    ...[variables]: Variables extends Record<string, never> ? [] | [Variables] : [Variables]
  ): Promise<Result> {
    const query = document.toString();
    const isQuery = /^\s*(query\b|\{)/.test(query);
    if (this.options.persisted && isQuery) {
      const extensions = { persistedQuery: { version: 1, sha256Hash: await sha256(query) } };
      const params = new URLSearchParams({ variables: JSON.stringify(variables ?? {}), extensions: JSON.stringify(extensions) });
      const first = await this.send(`${this.options.url}?${params}`, { method: 'GET' });
      if (first.errors?.[0]?.extensions?.code !== 'PERSISTED_QUERY_NOT_FOUND') {
        return this.unwrap<Result>(first);
      }
      return this.unwrap<Result>(await this.post({ query, variables, extensions }));
    }
    return this.unwrap<Result>(await this.post({ query, variables }));
  }

  private post(body: unknown) {
    return this.send(this.options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  private async send(url: string, init: RequestInit): Promise<{ data?: unknown; errors?: GraphQLError[] }> {
    const headers = new Headers(init.headers);
    headers.set('accept', 'application/json');
    const token = this.options.accessToken?.();
    if (token) headers.set('authorization', `Bearer ${token}`);
    const response = await (this.options.fetch ?? fetch)(url, { ...init, headers });
    return (await response.json()) as { data?: unknown; errors?: GraphQLError[] };
  }

  private unwrap<Result>(response: { data?: unknown; errors?: GraphQLError[] }): Result {
    const error = response.errors?.[0];
    if (error) {
      const { code, field, retryAfter } = error.extensions ?? {};
      throw new VigieError(error.message, code, field, retryAfter);
    }
    return response.data as Result;
  }
}
