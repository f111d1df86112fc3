/**
 * The serialization rule: a payload is stored as JSON, so core accepts only values that JSON
 * round-trips unchanged and rejects the rest where they enter, naming the path and the fix.
 *
 * Allowed: null, booleans, finite numbers except -0, strings that are well-formed UTF-16
 * without U+0000, arrays without holes or undefined, and plain objects (prototype
 * `Object.prototype` or null) whose keys follow the string rule. A property whose value is
 * undefined is dropped, as JSON.stringify drops it.
 */
import { PayloadTooLargeError, SerializationError } from '../errors.js';

/** Deepest nesting accepted; deeper values would exhaust the stack of JSON.parse elsewhere. */
export const MAX_DEPTH = 1000;

/** Default of `maxPayloadBytes`: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

export interface SerializeTarget {
  /** Names the payload in messages, such as `Input of job "hash-file"`. */
  what: string;
  /** Root of the paths in messages, such as `input` or `output`. */
  root: string;
  /** Limit on the UTF-8 length of the JSON text. */
  maxBytes: number;
}

/**
 * Checks `value` against the serialization rule and returns its JSON text.
 * Throws SerializationError at the first value that breaks the rule, and
 * PayloadTooLargeError when the text is longer than `maxBytes` in UTF-8.
 */
export function serializePayload(value: unknown, target: SerializeTarget): string {
  assertSerializable(value, target.what, target.root);
  const json = JSON.stringify(value);
  const sizeBytes = Buffer.byteLength(json, 'utf8');
  if (sizeBytes > target.maxBytes) {
    throw new PayloadTooLargeError(target.what, sizeBytes, target.maxBytes);
  }
  return json;
}

/** Throws SerializationError naming the first path in `value` that JSON cannot round-trip. */
export function assertSerializable(value: unknown, what: string, root: string): void {
  const problem = findProblem(value, root, [], 0);
  if (problem !== null) {
    throw new SerializationError(what, problem.path, problem.problem, problem.fix);
  }
}

/** Parses stored JSON text; null and undefined stay as they are. */
export function parsePayload(json: string | null | undefined): unknown {
  if (json === null || json === undefined) return json;
  return JSON.parse(json);
}

interface Problem {
  path: string;
  problem: string;
  fix: string;
}

function findProblem(
  value: unknown,
  path: string,
  ancestors: object[],
  depth: number,
): Problem | null {
  switch (typeof value) {
    case 'string':
      return checkString(value, path, 'string');
    case 'number':
      return checkNumber(value, path);
    case 'boolean':
      return null;
    case 'bigint':
      return {
        path,
        problem: `BigInt ${value}n has no JSON form`,
        fix: 'Pass it as a string (value.toString()), or as a number if it is at most 2^53-1.',
      };
    case 'undefined':
      return {
        path,
        problem: 'undefined has no JSON form',
        fix: 'Pass null, or leave the property out.',
      };
    case 'function':
      return {
        path,
        problem: `a function (${value.name || 'anonymous'}) has no JSON form`,
        fix: 'Remove it; pass data, not code.',
      };
    case 'symbol':
      return {
        path,
        problem: `${String(value)} has no JSON form`,
        fix: 'Pass a string instead of the symbol.',
      };
  }

  if (value === null) return null;
  const object = value as object;
  if (ancestors.includes(object)) {
    return {
      path,
      problem: 'a cycle: this object contains itself',
      fix: 'Remove the back-reference, or pass ids instead of nested references.',
    };
  }
  if (depth >= MAX_DEPTH) {
    return {
      path,
      problem: `nesting is deeper than ${MAX_DEPTH} levels`,
      fix: 'Flatten the structure.',
    };
  }

  ancestors.push(object);
  const problem = Array.isArray(object)
    ? checkArray(object, path, ancestors, depth)
    : checkObject(object, path, ancestors, depth);
  ancestors.pop();
  return problem;
}

function checkNumber(value: number, path: string): Problem | null {
  if (Number.isNaN(value)) {
    return { path, problem: 'NaN becomes null in JSON', fix: 'Pass null or a finite number.' };
  }
  if (!Number.isFinite(value)) {
    return {
      path,
      problem: `${value} becomes null in JSON`,
      fix: 'Pass null, a finite number, or a string such as "Infinity".',
    };
  }
  if (Object.is(value, -0)) {
    return { path, problem: '-0 becomes 0 in JSON', fix: 'Pass 0.' };
  }
  return null;
}

function checkString(value: string, path: string, kind: 'string' | 'key'): Problem | null {
  const nul = value.indexOf('\u0000');
  if (nul !== -1) {
    return {
      path,
      problem: `the ${kind} contains U+0000 (NUL) at index ${nul}, which PostgreSQL cannot store`,
      fix: 'Remove the NUL character, or encode binary data as base64.',
    };
  }
  const surrogate = value.search(LONE_SURROGATE);
  if (surrogate !== -1) {
    return {
      path,
      problem: `the ${kind} contains a lone UTF-16 surrogate at index ${surrogate}, which UTF-8 cannot encode`,
      fix: 'Repair the string, for example with value.toWellFormed().',
    };
  }
  return null;
}

/** In `u` mode a valid surrogate pair is one code point, so only lone surrogates match. */
const LONE_SURROGATE = /\p{Cs}/u;

function checkArray(
  array: unknown[],
  path: string,
  ancestors: object[],
  depth: number,
): Problem | null {
  for (let i = 0; i < array.length; i++) {
    const itemPath = `${path}[${i}]`;
    if (!(i in array)) {
      return {
        path: itemPath,
        problem: 'an array hole (sparse array) becomes null in JSON',
        fix: 'Fill every index, with null where there is no value.',
      };
    }
    const item = array[i];
    if (item === undefined) {
      return {
        path: itemPath,
        problem: 'undefined in an array becomes null in JSON',
        fix: 'Pass null, or remove the element.',
      };
    }
    const problem = findProblem(item, itemPath, ancestors, depth + 1);
    if (problem !== null) return problem;
  }
  const keys = Object.keys(array);
  if (keys.length !== array.length) {
    const extra = keys.find((key) => !/^(0|[1-9]\d*)$/.test(key));
    return {
      path,
      problem: `the array has a non-index property ${JSON.stringify(extra)}, which JSON drops`,
      fix: 'Move the property into an object next to the array.',
    };
  }
  return checkSymbolKeys(array, path);
}

function checkObject(
  object: object,
  path: string,
  ancestors: object[],
  depth: number,
): Problem | null {
  const classProblem = checkPlainObject(object, path);
  if (classProblem !== null) return classProblem;

  for (const [key, item] of Object.entries(object)) {
    const itemPath = appendKey(path, key);
    const keyProblem = checkString(key, itemPath, 'key');
    if (keyProblem !== null) return keyProblem;
    if (item === undefined) continue;
    const problem = findProblem(item, itemPath, ancestors, depth + 1);
    if (problem !== null) return problem;
  }
  return checkSymbolKeys(object, path);
}

function checkSymbolKeys(object: object, path: string): Problem | null {
  const symbols = Object.getOwnPropertySymbols(object).filter(
    (symbol) => Object.getOwnPropertyDescriptor(object, symbol)?.enumerable,
  );
  const first = symbols[0];
  if (first === undefined) return null;
  return {
    path,
    problem: `the property keyed by ${String(first)} has a symbol key, which JSON drops`,
    fix: 'Use a string key.',
  };
}

function checkPlainObject(object: object, path: string): Problem | null {
  const prototype = Object.getPrototypeOf(object);
  if (prototype === Object.prototype || prototype === null) return null;

  if (object instanceof Date) {
    return {
      path,
      problem: 'a Date becomes a string in JSON and does not come back as a Date',
      fix: 'Pass date.toISOString() or date.getTime().',
    };
  }
  if (object instanceof Map) {
    return {
      path,
      problem: 'a Map becomes {} in JSON',
      fix: 'Pass Object.fromEntries(map) or [...map.entries()].',
    };
  }
  if (object instanceof Set) {
    return { path, problem: 'a Set becomes {} in JSON', fix: 'Pass [...set].' };
  }
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return {
      path,
      problem: `binary data (${className(object)}) does not round-trip through JSON`,
      fix: "Encode it as a string, for example Buffer.from(bytes).toString('base64').",
    };
  }
  if (object instanceof Error) {
    return {
      path,
      problem: `an ${className(object)} becomes {} in JSON`,
      fix: 'Pass { name, message } as a plain object.',
    };
  }
  if (object instanceof String || object instanceof Number || object instanceof Boolean) {
    return {
      path,
      problem: `a boxed primitive (${className(object)} object) is not plain data`,
      fix: 'Pass the primitive value itself.',
    };
  }
  return {
    path,
    problem: `an instance of class ${className(object)} loses its prototype in JSON`,
    fix: 'Pass a plain object, for example { ...value } with only data fields.',
  };
}

function className(object: object): string {
  const name = (object.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : 'anonymous';
}

function appendKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
