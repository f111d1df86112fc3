/**
 * Schema checks of job input and output. Each schema is compiled once, on first use, and the
 * compiled validator is cached for the schema object's lifetime.
 */
import type { TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { Settings } from 'typebox/system';
import type { ValidationIssue } from '../errors.js';

/**
 * Maximum raw errors collected for one value. TypeBox 1.x buffers 8 by default (its
 * `maxErrors` setting) as a guard against huge error lists. An enqueue error lists every
 * failing path, so core raises the cap for its own calls and notes when this one is reached.
 */
export const MAX_RAW_ERRORS = 1_000;

const validators = new WeakMap<TSchema, Validator>();

/** Returns the compiled validator of a schema, compiling it on first use. */
export function compiledValidator(schema: TSchema): Validator {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema) as unknown as Validator;
    validators.set(schema, validator);
  }
  return validator;
}

/** Checks a value against a schema and returns every failing path; empty when it matches. */
export function checkSchema(schema: TSchema, value: unknown): ValidationIssue[] {
  const validator = compiledValidator(schema);
  if (validator.Check(value)) return [];
  const errors = collectErrors(validator, value);
  const issues = toIssues(errors);
  if (errors.length >= MAX_RAW_ERRORS) {
    issues.push({ path: '', message: `more violations not listed (stopped at ${MAX_RAW_ERRORS})` });
  }
  return issues;
}

/** Collects errors with the cap raised; TypeBox reads the cap from a process-wide setting. */
function collectErrors(validator: Validator, value: unknown): RawError[] {
  const previous = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: MAX_RAW_ERRORS });
  try {
    return validator.Errors(value) as RawError[];
  } finally {
    Settings.Set({ maxErrors: previous });
  }
}

interface RawError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/**
 * Turns TypeBox errors into one issue per failing path: a missing or extra property gets the
 * property's own path, and the branches of a failed union collapse into one issue.
 */
function toIssues(errors: readonly RawError[]): ValidationIssue[] {
  const unionPaths = errors
    .filter((error) => error.keyword === 'anyOf' || error.keyword === 'oneOf')
    .map((error) => `${error.schemaPath}/${error.keyword}/`);
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    const key = `${path}\u0001${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    issues.push({ path, message });
  };

  for (const error of errors) {
    if (unionPaths.some((prefix) => error.schemaPath.startsWith(prefix))) continue;

    if (error.keyword === 'required') {
      for (const property of asStrings(error.params.requiredProperties)) {
        add(`${error.instancePath}/${escapePointer(property)}`, 'is required');
      }
    } else if (error.keyword === 'additionalProperties') {
      for (const property of asStrings(error.params.additionalProperties)) {
        add(`${error.instancePath}/${escapePointer(property)}`, 'is not an allowed property');
      }
    } else if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties')) {
      // Reported once more by the `additionalProperties` error of the parent object.
    } else if (error.keyword === 'anyOf' || error.keyword === 'oneOf') {
      add(error.instancePath, unionMessage(error, errors));
    } else {
      add(error.instancePath, error.message);
    }
  }
  return issues;
}

function unionMessage(union: RawError, errors: readonly RawError[]): string {
  const prefix = `${union.schemaPath}/${union.keyword}/`;
  const branches = errors
    .filter((error) => error.schemaPath.startsWith(prefix))
    .filter((error) => error.instancePath === union.instancePath)
    .map((error) => error.message);
  const unique = [...new Set(branches)];
  if (unique.length === 0) return union.message;
  return `${union.message}: ${unique.join(', or ')}`;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}
