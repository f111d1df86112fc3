/** The identifiers derived from a validated schema name. */
export interface SchemaNames {
  /** The schema name as configured. */
  schema: string;
  /** The schema name as a quoted SQL identifier. */
  quoted: string;
  /** The NOTIFY channel of this schema, at most 63 bytes. */
  channel: string;
}

/** Derives the names; `schema` must already match the identifier pattern of the options. */
export function schemaNames(schema: string): SchemaNames {
  return { schema, quoted: `"${schema}"`, channel: `zapjobs:${schema}` };
}
