/**
 * Resolving the tenant of a web request, for any framework: Node's `IncomingMessage` (Express,
 * Fastify's `request.raw`, Koa's `ctx.req`) and the Fetch API's `Request` (Hono, Next.js route
 * handlers, Deno-style servers).
 */
import { InvalidOptionError } from '../errors.js';
import { runWithTenant } from './context.js';
import { checkTenantId } from './tenant-id.js';

/** The part of Node's `IncomingMessage` that the resolver reads. */
export interface NodeRequestLike {
  headers: Record<string, string | string[] | undefined>;
}

/** The part of a Fetch API `Request` that the resolver reads. */
export interface FetchRequestLike {
  headers: { get(name: string): string | null };
}

export type RequestLike = NodeRequestLike | FetchRequestLike;

/** Options of {@link resolveRequestTenant} and {@link withRequestTenant}. */
export interface RequestTenantOptions<R extends RequestLike = RequestLike> {
  /**
   * Header that carries the tenant id, case-insensitive. Default `x-tenant-id`. Trust it only
   * when a proxy or an authentication layer in front of the app sets or checks it.
   */
  header?: string;
  /**
   * Derives the tenant id from the request instead of a header, for example from an
   * authenticated session. Returning null or undefined means the request has no tenant.
   */
  resolve?: (request: R) => string | null | undefined | Promise<string | null | undefined>;
  /** When true, a request without a tenant raises InvalidOptionError. Default false. */
  required?: boolean;
}

const DEFAULT_HEADER = 'x-tenant-id';

/**
 * Returns the tenant id of a request, from `options.resolve` or from the tenant header, or
 * null when it has none. Throws InvalidOptionError for an invalid id, a repeated header, or a
 * missing tenant when `required` is set; answer those with HTTP 400.
 */
export async function resolveRequestTenant<R extends RequestLike>(
  request: R,
  options: RequestTenantOptions<R> = {},
): Promise<string | null> {
  const header = (options.header ?? DEFAULT_HEADER).toLowerCase();
  const source = options.resolve === undefined ? `${header} header` : 'resolve()';
  const value =
    options.resolve === undefined ? readHeader(request, header) : await options.resolve(request);

  if (value === null || value === undefined || value === '') {
    if (options.required === true) {
      throw new InvalidOptionError(source, value, 'a tenant id, because the request needs one');
    }
    return null;
  }
  return checkTenantId(source, value);
}

/**
 * Resolves the request's tenant and runs `fn` with it as the ambient tenant, so every enqueue
 * made while handling the request belongs to it. Express-style: `(req, res, next) =>
 * withRequestTenant(req, next)`; with Fetch: `withRequestTenant(request, () => handle(request))`.
 */
export async function withRequestTenant<R extends RequestLike, T>(
  request: R,
  fn: () => T | Promise<T>,
  options: RequestTenantOptions<R> = {},
): Promise<T> {
  const tenantId = await resolveRequestTenant(request, options);
  return runWithTenant(tenantId, fn);
}

function readHeader(request: RequestLike, header: string): string | null {
  const headers = (request as { headers?: unknown }).headers;
  if (typeof headers !== 'object' || headers === null) {
    throw new InvalidOptionError('request', request, 'an IncomingMessage or a Fetch Request');
  }
  if (typeof (headers as FetchRequestLike['headers']).get === 'function') {
    return (headers as FetchRequestLike['headers']).get(header);
  }
  const value = (headers as NodeRequestLike['headers'])[header];
  if (Array.isArray(value)) {
    throw new InvalidOptionError(`${header} header`, value, 'one value, not a repeated header');
  }
  return value ?? null;
}
